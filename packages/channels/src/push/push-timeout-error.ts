/** The push service did not answer within the provider's deadline. */
export class PushTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`push service did not answer within ${timeoutMs} ms`);
    this.name = 'PushTimeoutError';
  }
}
