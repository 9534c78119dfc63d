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
  /** Per entry: whether its delivery's row changed (what setStatus() tells its caller). */
  private readonly batcher: Batcher<LedgerEntry, boolean>;

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

  /**
   * Changes a delivery's status without an attempt; resolves once written,
   * with false when it did not apply (the delivery was not in a `from` status,
   * or no longer exists).
   */
  setStatus(change: StatusChange): Promise<boolean> {
    return this.batcher.add({ change });
  }

  /** Records an attempt and the status it leaves the delivery in; resolves once written. */
  async record(attempt: AttemptRecord): Promise<void> {
    await this.batcher.add({ attempt });
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  close(): Promise<void> {
    return this.batcher.close();
  }

  private async write(entries: LedgerEntry[]): Promise<boolean[]> {
    // Column arrays for unnest(): no key names to write and parse per row.
    const a = {
      deliveryId: [] as string[],
      attempt: [] as number[],
      at: [] as string[],
      outcome: [] as string[],
      errorCode: [] as (string | null)[],
      error: [] as (string | null)[],
      providerMessageId: [] as (string | null)[],
      durationMs: [] as number[],
    };
    // One update per delivery per statement (UPDATE … FROM applies only one
    // matching row); later entries win, they describe a later state.
    const updates = new Map<string, StatusUpdate>();
    for (const entry of entries) {
      if ('sending' in entry) {
        if (!updates.has(entry.sending)) {
          updates.set(entry.sending, { status: 'sending', attempts: 0 });
        }
        continue;
      }
      if ('change' in entry) {
        const c = entry.change;
        updates.set(c.deliveryId, {
          status: c.status,
          reason: c.reason,
          attempts: 0,
          from: c.from?.join(','),
        });
        continue;
      }
      const t = entry.attempt;
      const at = t.at.toISOString();
      a.deliveryId.push(t.deliveryId);
      a.attempt.push(t.attempt);
      a.at.push(at);
      a.outcome.push(t.outcome);
      a.errorCode.push(t.errorCode ?? null);
      a.error.push(t.error?.slice(0, 2000) ?? null);
      a.providerMessageId.push(t.providerMessageId ?? null);
      a.durationMs.push(Math.round(t.durationMs));
      updates.set(t.deliveryId, {
        status: t.status,
        reason: t.reason,
        attempts: t.attempt,
        providerMessageId: t.providerMessageId,
        sentAt: t.status === 'sent' ? at : undefined,
      });
    }
    const u = {
      id: [] as string[],
      status: [] as string[],
      reason: [] as (string | null)[],
      attempts: [] as number[],
      providerMessageId: [] as (string | null)[],
      sentAt: [] as (string | null)[],
      from: [] as (string | null)[],
    };
    for (const [id, update] of updates) {
      u.id.push(id);
      u.status.push(update.status);
      u.reason.push(update.reason ?? null);
      u.attempts.push(update.attempts);
      u.providerMessageId.push(update.providerMessageId ?? null);
      u.sentAt.push(update.sentAt ?? null);
      u.from.push(update.from ?? null);
    }
    const { rows } = await this.pool.query<{ id: string }>({
      text: `
WITH a AS (
  INSERT INTO attempts (delivery_id, attempt, at, outcome, error_code, error, provider_message_id, duration_ms)
  SELECT x.delivery_id, x.attempt, x.at, x.outcome, x.error_code, x.error, x.provider_message_id, x.duration_ms
  FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::attempt_outcome[], $5::text[], $6::text[],
    $7::text[], $8::int[]) AS x(delivery_id, attempt, at, outcome, error_code, error, provider_message_id, duration_ms)
  -- A job can outlive its delivery row (an erased recipient, a purged notification).
  WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = x.delivery_id)
), x AS (
  SELECT x.id, x.status, x.reason, x.attempts, x.provider_message_id, x.sent_at,
    string_to_array(x.from_statuses, ',')::delivery_status[] AS from_statuses
  FROM unnest($9::uuid[], $10::delivery_status[], $11::text[], $12::int[], $13::text[],
    $14::timestamptz[], $15::text[]) AS x(id, status, reason, attempts, provider_message_id, sent_at, from_statuses)
), b AS MATERIALIZED (
  -- Each row locked before it changes and read with its status before this statement, for
  -- the campaign counters. Joined here, then to deliveries by primary key: the update stays
  -- linear in the batch whatever the planner guesses of the arrays' size.
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
), c AS (
  UPDATE campaigns c SET
    sent = c.sent + delta.sent, failed = c.failed + delta.failed,
    cancelled = c.cancelled + delta.cancelled, skipped = c.skipped + delta.skipped
  FROM delta WHERE c.id = delta.campaign_id
)
-- The status changes that applied (a change whose from did not match is not here),
-- read only when a setStatus() caller is waiting for them: not on the send path.
SELECT u.id FROM u WHERE $16::boolean AND u.status <> u.old_status`,
      values: [
        a.deliveryId,
        a.attempt,
        a.at,
        a.outcome,
        a.errorCode,
        a.error,
        a.providerMessageId,
        a.durationMs,
        u.id,
        u.status,
        u.reason,
        u.attempts,
        u.providerMessageId,
        u.sentAt,
        u.from,
        entries.some((entry) => 'change' in entry),
      ],
    });
    const changed = new Set(rows.map((r) => r.id));
    return entries.map((entry) =>
      'change' in entry ? changed.has(entry.change.deliveryId) : true,
    );
  }
}

/** A delivery's next state, as one flush writes it. */
interface StatusUpdate {
  status: DeliveryStatus;
  reason?: string;
  attempts: number;
  providerMessageId?: string;
  /** ISO 8601. */
  sentAt?: string;
  /** Comma-separated statuses the delivery must be in for the update to apply. */
  from?: string;
}
