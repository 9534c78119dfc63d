import { Batcher } from './batcher';

describe('Batcher', () => {
  it('groups concurrent adds into one write and resolves each after it', async () => {
    const writes: number[][] = [];
    const batcher = new Batcher<number>(
      async (items) => {
        writes.push(items);
      },
      { intervalMs: 5 },
    );
    await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
    expect(writes).toEqual([[1, 2, 3, 4]]);
  });

  it('writes at most maxBatch items at a time, in order', async () => {
    const writes: number[][] = [];
    const batcher = new Batcher<number>(
      async (items) => {
        writes.push(items);
      },
      { intervalMs: 1000, maxBatch: 3 },
    );
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => batcher.add(n)));
    await batcher.flush();
    expect(writes.flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(Math.max(...writes.map((w) => w.length))).toBeLessThanOrEqual(3);
  });

  it('keeps one write in flight at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const batcher = new Batcher<number>(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
      },
      { intervalMs: 0, maxBatch: 2 },
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) => batcher.add(i)));
    expect(maxInFlight).toBe(1);
  });

  it('rejects the batch when a write fails and retry is off', async () => {
    const batcher = new Batcher<number>(async () => {
      throw new Error('boom');
    });
    await expect(batcher.add(1)).rejects.toThrow('boom');
  });

  it('retries a failed write until it succeeds when retry is on', async () => {
    let calls = 0;
    const batcher = new Batcher<number>(
      async () => {
        calls++;
        if (calls < 3) throw new Error('transient');
      },
      { retry: true },
    );
    await batcher.add(1);
    expect(calls).toBe(3);
  });

  it('refuses adds after close', async () => {
    const batcher = new Batcher<number>(async () => {});
    await batcher.close();
    await expect(batcher.add(1)).rejects.toThrow(/closed/);
  });
});
