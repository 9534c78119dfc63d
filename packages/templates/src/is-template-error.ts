import { MissingVariablesError } from './missing-variables-error';
import { TemplateChannelMissingError } from './template-channel-missing-error';
import { TemplateNotFoundError } from './template-not-found-error';
import { TemplateRenderError } from './template-render-error';
import { TemplateSyntaxError } from './template-syntax-error';

/** Errors that say the template and its data can never produce this message (permanent). */
export function isTemplateError(err: unknown): boolean {
  return (
    err instanceof MissingVariablesError ||
    err instanceof TemplateChannelMissingError ||
    err instanceof TemplateNotFoundError ||
    err instanceof TemplateRenderError ||
    err instanceof TemplateSyntaxError
  );
}
