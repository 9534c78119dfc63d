import { Batcher } from '@herald/core';
import type pg from 'pg';
import type { AttemptOutcome, DeliveryStatus } from './statuses';

/** What one delivery attempt did, and the status the delivery is in after it. */
export interface AttemptRecord {
  deliveryId: string;
  /** 1-based. */
  attempt: number;
  at: Date;
  outcome: AttemptOutcome;
  errorCode?: string;
  error?: string;
  providerMessageId?: string;
  durationMs: number;
  status: Extract<DeliveryStatus, 'sent' | 'queued' | 'failed'>;
  /** Why it failed, for a failed delivery. */
  reason?: string;
}

/** A status change that is not an attempt (fallback bookkeeping, sweeps, requeues). */
export interface StatusChange {
  deliveryId: string;
  status: DeliveryStatus;
  reason?: string;
  /** Apply only when the delivery is currently in one of these statuses. */
  from?: DeliveryStatus[];
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity violation): the data, not the connection. */
function isRejectedStatement(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23)/.test(code);
}

type LedgerEntry = { sending: string } | { attempt: AttemptRecord } | { change: StatusChange };

export interface DeliveryLedgerOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  onWriteError?: (err: unknown) => void;
}

/**
 * The workers' write path to Postgres. Attempts and status changes from all
 * concurrent jobs go out as one statement per flush, so no message costs its
 * own round trip. `record()` resolves once the row is durable: a job is
 * acknowledged in Redis only after its status is in Postgres. A failed write
 * is retried until Postgres answers (backpressure, never a lost status).
 */
export class DeliveryLedger {
  private readonly batcher: Batcher<LedgerEntry>;

  constructor(
    private readonly pool: pg.Pool,
    options: DeliveryLedgerOptions = {},
  ) {
    this.batcher = new Batcher((entries) => this.write(entries), {
      intervalMs: options.flushIntervalMs ?? 5,
      maxBatch: options.maxBatch ?? 1000,
      // Retry while Postgres is away; a statement Postgres refuses would be refused forever.
      retry: (err) => !isRejectedStatement(err),
      onError: options.onWriteError,
    });
  }

  /** Marks a delivery as being sent. Best effort: the hot path does not wait for it. */
  markSending(deliveryId: string): void {
    this.batcher.add({ sending: deliveryId }).catch(() => {});
  }

  /** Changes a delivery's status without an attempt; resolves once written. */
  setStatus(change: StatusChange): Promise<void> {
    return this.batcher.add({ change });
  }

  /** Records an attempt and the status it leaves the delivery in; resolves once written. */
  record(attempt: AttemptRecord): Promise<void> {
    return this.batcher.add({ attempt });
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  close(): Promise<void> {
    return this.batcher.close();
  }

  private async write(entries: LedgerEntry[]): Promise<void> {
    const attempts: AttemptRecord[] = [];
    // One update per delivery per statement (UPDATE … FROM applies only one
    // matching row); later entries win, they describe a later state.
    const updates = new Map<string, object>();
    for (const entry of entries) {
      if ('sending' in entry) {
        if (!updates.has(entry.sending)) {
          updates.set(entry.sending, { id: entry.sending, status: 'sending', attempts: 0 });
        }
        continue;
      }
      if ('change' in entry) {
        const c = entry.change;
        updates.set(c.deliveryId, {
          id: c.deliveryId,
          status: c.status,
          reason: c.reason ?? null,
          attempts: 0,
          from_statuses: c.from ?? null,
        });
        continue;
      }
      const a = entry.attempt;
      attempts.push(a);
      updates.set(a.deliveryId, {
        id: a.deliveryId,
        status: a.status,
        reason: a.reason ?? null,
        attempts: a.attempt,
        provider_message_id: a.providerMessageId ?? null,
        sent_at: a.status === 'sent' ? a.at.toISOString() : null,
      });
    }
    await this.pool.query({
      text: `
WITH a AS (
  INSERT INTO attempts (delivery_id, attempt, at, outcome, error_code, error, provider_message_id, duration_ms)
  SELECT x.delivery_id, x.attempt, x.at, x.outcome, x.error_code, x.error, x.provider_message_id, x.duration_ms
  FROM jsonb_to_recordset($1::jsonb) AS x(delivery_id uuid, attempt int, at timestamptz,
    outcome attempt_outcome, error_code text, error text, provider_message_id text, duration_ms int)
  -- A job can outlive its delivery row (an erased recipient, a purged notification).
  WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = x.delivery_id)
), x AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, status delivery_status, reason text,
    attempts int, provider_message_id text, sent_at timestamptz, from_statuses delivery_status[])
), b AS MATERIALIZED (
  -- Each row locked before it changes and read with its status before this statement, for
  -- the campaign counters. Joined here, then to deliveries by primary key: the update stays
  -- linear in the batch whatever the planner guesses of the recordset's size.
  SELECT d0.id, d0.status AS old_status, x.status, x.reason, x.attempts, x.provider_message_id, x.sent_at
  FROM x JOIN deliveries d0 ON d0.id = x.id
  WHERE x.from_statuses IS NULL OR d0.status = ANY(x.from_statuses)
  ORDER BY d0.id -- one lock order for every writer: concurrent flushes cannot deadlock
  FOR UPDATE OF d0
), u AS (
  UPDATE deliveries d SET
    -- Terminal statuses stick, except that "sent" is always the truth.
    status = CASE WHEN b.status = 'sent' OR d.status NOT IN ('sent', 'failed', 'cancelled', 'skipped')
                  THEN b.status ELSE d.status END,
    reason = COALESCE(b.reason, d.reason),
    attempts_count = GREATEST(d.attempts_count, b.attempts),
    provider_message_id = COALESCE(b.provider_message_id, d.provider_message_id),
    sent_at = COALESCE(b.sent_at, d.sent_at),
    updated_at = now()
  FROM b WHERE d.id = b.id
  RETURNING d.id, d.status, d.campaign_id, b.old_status
), delta AS (
  SELECT u.campaign_id,
    count(*) FILTER (WHERE u.status = 'sent') - count(*) FILTER (WHERE u.old_status = 'sent') AS sent,
    count(*) FILTER (WHERE u.status = 'failed') - count(*) FILTER (WHERE u.old_status = 'failed') AS failed,
    count(*) FILTER (WHERE u.status = 'cancelled') - count(*) FILTER (WHERE u.old_status = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE u.status = 'skipped') - count(*) FILTER (WHERE u.old_status = 'skipped') AS skipped
  FROM u
  WHERE u.campaign_id IS NOT NULL AND u.status <> u.old_status
  GROUP BY u.campaign_id
)
UPDATE campaigns c SET
  sent = c.sent + delta.sent, failed = c.failed + delta.failed,
  cancelled = c.cancelled + delta.cancelled, skipped = c.skipped + delta.skipped
FROM delta WHERE c.id = delta.campaign_id`,
      values: [
        JSON.stringify(
          attempts.map((a) => ({
            delivery_id: a.deliveryId,
            attempt: a.attempt,
            at: a.at.toISOString(),
            outcome: a.outcome,
            error_code: a.errorCode ?? null,
            error: a.error?.slice(0, 2000) ?? null,
            provider_message_id: a.providerMessageId ?? null,
            duration_ms: Math.round(a.durationMs),
          })),
        ),
        JSON.stringify([...updates.values()]),
      ],
    });
  }
}
