import { Batcher } from '@herald/core';
import type pg from 'pg';

/**
 * Removes outbox entries once Redis has confirmed their jobs, in batches off
 * the request path. Losing an acknowledgement is harmless: the relay finds the
 * entry, sees the job already exists (job id = delivery id) and drops it.
 */
export class OutboxAcknowledger {
  private readonly batcher: Batcher<string>;

  constructor(pool: pg.Pool, onError?: (err: unknown) => void) {
    this.batcher = new Batcher(
      async (deliveryIds) => {
        await pool.query({
          name: 'herald_outbox_ack',
          text: 'DELETE FROM outbox WHERE delivery_id = ANY($1::uuid[])',
          values: [deliveryIds],
        });
      },
      { intervalMs: 20, maxBatch: 5000, onError },
    );
  }

  acknowledge(deliveryIds: readonly string[]): void {
    for (const id of deliveryIds) this.batcher.add(id).catch(() => {});
  }

  close(): Promise<void> {
    return this.batcher.close();
  }
}
