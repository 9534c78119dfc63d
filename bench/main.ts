/**
 * pnpm bench: Herald's figures (SPEC §7), each beside the ceiling measured in
 * the same run: bare BullMQ no-op jobs/s on this machine and this Redis. A
 * figure given as a share of the ceiling is compared with a ceiling measured
 * right beside it (before it, and after it too for the long campaign); the
 * table's ceiling row is the median of every measurement in the run.
 *
 *   pnpm bench                      every figure
 *   pnpm bench webhook lanes        the ceiling plus only these
 *   BENCH_SCALE=0.1 pnpm bench      smaller runs for a quick look
 *
 * Figures: webhook, email, lanes, ingest (batch + single p99), campaign.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { closeQueues, createLaneQueues } from '@herald/core';
import { createDatabase, ensureDatabase, runMigrations, type Database } from '@herald/db';
import { ROOT } from './lib/child';
import {
  ADMIN_URL,
  CEILING_CONCURRENCY,
  clearRedis,
  PREFIX,
  REDIS_URL,
  SCALE,
  type BenchContext,
  type Figure,
} from './lib/context';
import type { DrainMeasurement } from './lib/measure';
import { measureCeiling } from './figures/ceiling';
import { webhookFigures } from './figures/webhook';
import { emailFigure } from './figures/email';
import { lanesFigure } from './figures/lanes';
import { ingestFigures } from './figures/ingest';
import { campaignFigure } from './figures/campaign';

const FIGURES: Record<string, (ctx: BenchContext) => Promise<void>> = {
  webhook: webhookFigures,
  email: emailFigure,
  lanes: lanesFigure,
  ingest: ingestFigures,
  campaign: campaignFigure,
};

async function freshDatabase(): Promise<{ url: string; db: Database }> {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS herald_bench WITH (FORCE)');
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = '/herald_bench';
  await ensureDatabase(url.toString());
  await runMigrations(url.toString());
  return { url: url.toString(), db: createDatabase(url.toString(), { max: 10 }) };
}

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((f) => !(f in FIGURES));
  if (unknown.length > 0)
    throw new Error(
      `unknown figure ${unknown.join(', ')}; known: ${Object.keys(FIGURES).join(', ')}`,
    );
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const { url, db } = await freshDatabase();
  const queues = createLaneQueues(redis, PREFIX);
  const figures: Figure[] = [];
  const report = (f: Figure) => {
    figures.push(f);
    process.stdout.write(
      `  ${f.figure}: ${format(f)} (${f.pass ? 'meets' : 'misses'} ${f.target})\n`,
    );
  };
  const ceilings: (DrainMeasurement & { cpu: Record<string, string> })[] = [];
  const ceiling = async () => {
    const m = await measureCeiling(redis);
    ceilings.push(m);
    process.stdout.write(`  ceiling: ${m.perSecond.toFixed(0)} jobs/s\n`);
    return m.perSecond;
  };
  await ceiling();
  const ctx: BenchContext = { db, databaseUrl: url, redis, queues, ceiling, report };
  for (const [name, figure] of Object.entries(FIGURES)) {
    if (only.length === 0 || only.includes(name)) await figure(ctx);
  }
  await closeQueues(queues.values());
  await clearRedis(redis);
  redis.disconnect();
  await db.close();
  const median = medianOf(ceilings.map((c) => c.perSecond));
  figures.unshift({
    figure: `bare BullMQ no-op jobs/s (ceiling, median of ${ceilings.length} in this run)`,
    value: median,
    unit: 'jobs/s',
    target: 'reference',
    pass: true,
    detail: { measurements: ceilings },
  });
  writeResults(figures, median);
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A figure's ratio is to the ceiling measured beside it, when it has one. */
function ceilingOf(f: Figure, median: number): number {
  const own = f.detail?.ceiling;
  return typeof own === 'number' ? own : median;
}

function format(f: Figure): string {
  return `${f.value.toFixed(f.unit === 'ms' || f.unit === 'MiB' ? 1 : 0)} ${f.unit}`;
}

function writeResults(figures: Figure[], ceiling: number) {
  const rows = figures.map((f) => [
    f.figure,
    format(f),
    f.target,
    f.unit.endsWith('/s') ? `${((f.value / ceilingOf(f, ceiling)) * 100).toFixed(0)} %` : '',
    f.pass ? 'yes' : 'NO',
  ]);
  const header = ['figure', 'value', 'target', 'of ceiling', 'meets'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(
    `\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
  );
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
  writeFileSync(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), machine, scale: SCALE, ceilingConcurrency: CEILING_CONCURRENCY, ceiling, figures }, null, 2)}\n`,
  );
  process.stdout.write(`\nresults: ${path.relative(ROOT, file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
