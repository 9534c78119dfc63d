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
  const before = cpuSnapshot(pids);
  const m = await measureDrain([ctx.queues.get('email.transactional')!], jobs);
  const cpu = cpuShare(before, cpuSnapshot(pids), m.seconds);
  await worker.stop();
  await sink.child.stop();
  const sent = await countSent(ctx.db, 'email');
  ctx.report({
    figure: 'email deliveries/s via pooled SMTP',
    value: m.perSecond,
    unit: 'deliveries/s',
    target: '>= 3,000/s',
    pass: m.perSecond >= 3000 && sent === jobs,
    detail: {
      ...m,
      ratioOfCeiling: m.perSecond / ctx.ceiling.perSecond,
      sentInPostgres: sent,
      cpu,
    },
  });
}
