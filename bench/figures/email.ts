import { loadChannelWorkerConfig } from '@herald/core';
import { runChild } from '../lib/child';
import {
  countSent,
  HERALD_CONCURRENCY,
  n,
  resetState,
  serviceEnv,
  startSink,
  RETRY,
  type BenchContext,
} from '../lib/context';
import { cpuShare, cpuSnapshot } from '../lib/cpu';
import { measureDrain } from '../lib/measure';
import { seedDeliveries } from '../lib/seed';

/** Email deliveries through pooled SMTP to a local smtp-server sink. */
export async function emailFigure(ctx: BenchContext): Promise<void> {
  await resetState(ctx);
  const jobs = n(20_000);
  const sink = await startSink('bench/smtp-sink.ts');
  process.stdout.write(`email: seeding ${jobs} deliveries\n`);
  await seedDeliveries({
    db: ctx.db,
    queues: ctx.queues,
    retry: RETRY,
    count: jobs,
    channel: 'email',
    lane: 'transactional',
    to: (i) => ({ email: `user${i}@example.test` }),
    content: {
      subject: 'Your receipt',
      text: 'Thanks for your order.',
      html: '<p>Thanks for your <b>order</b>.</p>',
    },
  });
  const worker = runChild(
    'services/worker-email/src/main.ts',
    serviceEnv(ctx, {
      SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      ...(HERALD_CONCURRENCY ? { EMAIL_CONCURRENCY: HERALD_CONCURRENCY } : {}),
    }),
    'worker-email',
  );
  const pids = { worker: worker.process.pid, sink: sink.child.process.pid };
  let before = cpuSnapshot(pids);
  const m = await measureDrain([ctx.queues.get('email.transactional')!], jobs, {
    onStart: () => (before = cpuSnapshot(pids)),
  });
  const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
  await worker.stop();
  const sent = await countSent(ctx.db, 'email');
  ctx.report({
    figure: 'email deliveries/s via pooled SMTP',
    value: m.perSecond,
    unit: 'deliveries/s',
    target: '>= 3,000/s',
    pass: m.perSecond >= 3000 && sent === jobs,
    detail: {
      ...m,
      sentInPostgres: sent,
      cpu,
    },
  });

  // The reference: nodemailer alone to the same sink, in the same run.
  const floor = runChild('bench/nodemailer-floor.ts', {
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    COUNT: String(jobs),
    // As many connections as worker-email's pool has (twice its concurrency).
    CONNECTIONS: String(
      Number(HERALD_CONCURRENCY ?? loadChannelWorkerConfig('email', {}).concurrency) * 2,
    ),
  });
  const done = floor.next('done', 300_000);
  await floor.next('warm');
  const floorPids = { nodemailer: floor.process.pid, sink: sink.child.process.pid };
  const floorBefore = cpuSnapshot(floorPids);
  const result = await done;
  const floorAfter = cpuSnapshot(floorPids); // before they stop: a gone process reads as 0
  const seconds = Number(result.seconds);
  await floor.stop();
  await sink.child.stop();
  ctx.report({
    figure: 'reference: nodemailer alone, pooled SMTP to the same sink',
    value: jobs / seconds,
    unit: 'messages/s',
    target: 'reference',
    pass: true,
    detail: {
      messages: jobs,
      seconds,
      cpu: cpuShare(floorBefore, floorAfter, seconds),
    },
  });
}
