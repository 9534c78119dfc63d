import type pg from 'pg';

export interface AttemptError {
  attempt: number;
  at: string;
  outcome: string;
  code?: string;
  message?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every failed attempt of a delivery, oldest first (what a dead letter
 * carries). An id that is not a delivery id (a job whose payload did not
 * parse is buried under its job id) has none, rather than failing the query.
 */
export async function listAttemptErrors(
  pool: pg.Pool,
  deliveryId: string,
): Promise<AttemptError[]> {
  if (!UUID.test(deliveryId)) return [];
  const { rows } = await pool.query<{
    attempt: number;
    at: Date;
    outcome: string;
    error_code: string | null;
    error: string | null;
  }>({
    text: `SELECT attempt, at, outcome, error_code, error FROM attempts
           WHERE delivery_id = $1 AND outcome <> 'sent' ORDER BY at, id`,
    values: [deliveryId],
  });
  return rows.map((r) => ({
    attempt: r.attempt,
    at: r.at.toISOString(),
    outcome: r.outcome,
    ...(r.error_code ? { code: r.error_code } : {}),
    ...(r.error ? { message: r.error } : {}),
  }));
}

/**
 * Redrive: failed deliveries go back to queued with fresh attempts; their
 * attempt history stays as it is.
 */
export async function requeueDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
  reason: string,
): Promise<void> {
  await pool.query(
    `UPDATE deliveries SET status = 'queued', reason = $2, queued_at = now(), updated_at = now()
     WHERE id = ANY($1::uuid[]) AND status IN ('failed', 'queued', 'sending')`,
    [deliveryIds, reason],
  );
}

/** Of these deliveries, those already settled (sent, failed, cancelled, skipped). */
export async function findSettledDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
): Promise<Set<string>> {
  if (deliveryIds.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM deliveries WHERE id = ANY($1::uuid[]) AND status IN ('sent', 'failed', 'cancelled', 'skipped')`,
    [deliveryIds],
  );
  return new Set(rows.map((r) => r.id));
}
