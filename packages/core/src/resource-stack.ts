import type { Logger } from 'pino';

type Release = () => Promise<unknown> | unknown;

/**
 * Acquire and release on the same line: `stack.own(resource, release)`.
 * `close()` releases in reverse order, each bounded, so one stuck resource
 * cannot keep the process alive forever.
 */
export class ResourceStack {
  private readonly releases: { name: string; release: Release }[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly log?: Logger,
    private readonly timeoutMs = 30_000,
  ) {}

  own<T>(resource: T, release: (resource: T) => Promise<unknown> | unknown, name = 'resource'): T {
    this.releases.push({ name, release: () => release(resource) });
    return resource;
  }

  defer(name: string, release: Release): void {
    this.releases.push({ name, release });
  }

  close(): Promise<void> {
    this.closing ??= this.releaseAll();
    return this.closing;
  }

  /** Close on the given signals, then exit. A second signal exits at once. */
  closeOn(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
    for (const signal of signals) {
      process.once(signal, () => {
        this.log?.info({ signal }, 'shutting down');
        process.once(signal, () => process.exit(1));
        void this.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  }

  private async releaseAll(): Promise<void> {
    for (const { name, release } of this.releases.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(release),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`timed out after ${this.timeoutMs} ms`)),
              this.timeoutMs,
            );
          }),
        ]);
      } catch (err) {
        this.log?.error({ err, resource: name }, 'release failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
