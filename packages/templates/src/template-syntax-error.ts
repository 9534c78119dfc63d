import type { TemplateIssue } from './template-error-issue';

/** A stored template does not parse (it bypassed validation, or Liquid changed). */
export class TemplateSyntaxError extends Error {
  constructor(readonly issues: readonly TemplateIssue[]) {
    super(`template does not parse: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'TemplateSyntaxError';
  }
}
