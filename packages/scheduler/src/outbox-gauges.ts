import { OUTBOX_COUNT_CAP, readOutboxBacklog, type OutboxBacklog } from '@herald/db';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';

type OutboxName = 'notifications' | 'campaign_pages';

/**
 * herald_outbox_entries and herald_outbox_oldest_age_seconds: what was
 * accepted (or fanned out) into Postgres and has not reached Redis yet, read
 * when Prometheus scrapes. The queue gauges cannot see it: nothing is in a
 * queue yet. A scrape while Postgres is away keeps the last values.
 */
export function createOutboxGauges(registry: Registry, pool: pg.Pool): void {
  let inFlight: Promise<OutboxBacklog> | undefined;
  /** One read per scrape, shared by both gauges. */
  const backlog = () =>
    (inFlight ??= readOutboxBacklog(pool).finally(() => {
      inFlight = undefined;
    }));
  const fill = async (
    gauge: Gauge<'outbox'>,
    pick: (part: OutboxBacklog['notifications']) => number,
  ) =>
    backlog().then(
      (b) => {
        const parts: Record<OutboxName, OutboxBacklog['notifications']> = {
          notifications: b.notifications,
          campaign_pages: b.campaignPages,
        };
        for (const [outbox, part] of Object.entries(parts)) gauge.set({ outbox }, pick(part));
      },
      () => {},
    );
  const entries: Gauge<'outbox'> = new Gauge({
    name: 'herald_outbox_entries',
    help: `Entries due in a Postgres outbox and not yet confirmed in Redis (counted up to ${OUTBOX_COUNT_CAP}).`,
    labelNames: ['outbox'],
    registers: [registry],
    async collect() {
      await fill(entries, (part) => part.due);
    },
  });
  const oldest: Gauge<'outbox'> = new Gauge({
    name: 'herald_outbox_oldest_age_seconds',
    help: 'Seconds the oldest due entry of a Postgres outbox has waited to reach Redis (0 when none).',
    labelNames: ['outbox'],
    registers: [registry],
    async collect() {
      await fill(oldest, (part) => part.oldestSeconds);
    },
  });
}
