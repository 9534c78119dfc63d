/** No stored template has this key. */
export class TemplateNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no template ${key}`);
    this.name = 'TemplateNotFoundError';
  }
}
