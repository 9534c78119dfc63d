import type { TemplateIssue } from './template-error-issue';

/**
 * Rendering failed for this data: a Liquid runtime error (a render limit, a
 * filter refusing its input) or a rendered value the channel cannot send
 * (an empty subject, an icon that is not a URL). Retrying cannot help.
 */
export class TemplateRenderError extends Error {
  constructor(
    readonly issues: readonly TemplateIssue[],
    options?: { cause?: unknown },
  ) {
    super(
      `template did not render: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      options,
    );
    this.name = 'TemplateRenderError';
  }
}
