export interface BatcherOptions {
  /**
   * Longest an item waits for company before it is written. 0: write once
   * the current I/O has been handled (what arrived with it joins; timers
   * would wait a whole millisecond).
   */
  intervalMs?: number;
  /** Items per write. */
  maxBatch?: number;
  /**
   * Retry a failed write (with backoff) until it succeeds or the batcher
   * closes; a function decides per error (false: reject the batch at once).
   */
  retry?: boolean | ((err: unknown) => boolean);
  onError?: (err: unknown) => void;
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: Error) => void;
}

/**
 * Group commit: items added from many concurrent callers are written together,
 * one write in flight at a time, in arrival order. `add()` resolves once its
 * item's write succeeded (with the item's result, if the write gives them), so
 * callers can wait for durability without paying a round trip each.
 */
export class Batcher<T, R = void> {
  private pending: Pending<T, R>[] = [];
  private cancelTimer: (() => void) | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBatch: number;

  constructor(
    /** Writes a batch; may resolve with one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[] | void>,
    private readonly options: BatcherOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5;
    this.maxBatch = options.maxBatch ?? 1000;
  }

  get size(): number {
    return this.pending.length;
  }

  add(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new Error('batcher is closed'));
    const done = new Promise<R>((resolve, reject) => this.pending.push({ item, resolve, reject }));
    if (this.pending.length >= this.maxBatch) void this.flush();
    else this.cancelTimer ??= this.schedule();
    return done;
  }

  private schedule(): () => void {
    if (this.intervalMs === 0) {
      const immediate = setImmediate(() => void this.flush());
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(() => void this.flush(), this.intervalMs);
    return () => clearTimeout(timer);
  }

  /** Writes everything added so far. */
  async flush(): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    while (this.flushing || this.pending.length > 0) {
      this.flushing ??= this.writeNext().finally(() => {
        this.flushing = undefined;
      });
      await this.flushing;
    }
  }

  /** Flushes (bounded by the caller), then refuses new items. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async writeNext(): Promise<void> {
    const batch = this.pending.splice(0, this.maxBatch);
    const items = batch.map((p) => p.item);
    let delayMs = 50;
    for (;;) {
      try {
        const results = await this.write(items);
        batch.forEach((p, i) => p.resolve(results ? (results[i] as R) : (undefined as R)));
        return;
      } catch (err) {
        this.options.onError?.(err);
        const retry =
          typeof this.options.retry === 'function' ? this.options.retry(err) : this.options.retry;
        if (!retry || this.closed) {
          for (const p of batch) p.reject(err as Error);
          return;
        }
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, 5000);
      }
    }
  }
}
