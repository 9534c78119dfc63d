import type pg from 'pg';

export interface AttemptError {
  attempt: number;
  at: string;
  outcome: string;
  code?: string;
  message?: string;
}

/** Every failed attempt of a delivery, oldest first (what a dead letter carries). */
export async function listAttemptErrors(
  pool: pg.Pool,
  deliveryId: string,
): Promise<AttemptError[]> {
  const { rows } = await pool.query<{
    attempt: number;
    at: Date;
    outcome: string;
    error_code: string | null;
    error: string | null;
  }>({
    name: 'herald_attempt_errors',
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
