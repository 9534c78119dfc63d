import type { Channel } from '@herald/core';
import {
  isTemplateError,
  MissingVariablesError,
  renderTemplate,
  TemplateChannelMissingError,
  type CompiledTemplate,
} from '@herald/templates';
import type { FieldError } from './problem';

/**
 * Renders a template once per channel to refuse, at the door, what could
 * never be delivered: missing variables (each named as `data.<name>`), a
 * channel the template lacks. No errors: it can be sent.
 */
export function templateFieldErrors(
  template: CompiledTemplate,
  key: string,
  channels: readonly Channel[],
  data: Record<string, unknown>,
  locale?: string,
): FieldError[] {
  const missing = new Set<string>();
  const errors: FieldError[] = [];
  for (const channel of channels) {
    try {
      renderTemplate(template, channel, data, locale);
    } catch (err) {
      if (err instanceof MissingVariablesError) err.variables.forEach((v) => missing.add(v));
      else if (err instanceof TemplateChannelMissingError) {
        errors.push({
          field: 'channels',
          in: 'body',
          message: `template ${key} has no ${channel} content`,
        });
      } else if (isTemplateError(err)) {
        errors.push({ field: 'template', in: 'body', message: (err as Error).message });
      } else throw err;
    }
  }
  for (const name of [...missing].sort()) {
    errors.push({ field: `data.${name}`, in: 'body', message: `missing variable ${name}` });
  }
  return errors;
}
