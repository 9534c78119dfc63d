import {
  closeQueues,
  createDeadLetterQueues,
  createLaneQueues,
  createDeliveriesCounter,
  createQueueGauges,
  createRegistry,
  createWorkerConnection,
  loadSchedulerConfig,
  queueGaugeCollectors,
  runService,
  startOpsServer,
} from '@herald/core';
import { createDatabase, createSchemaCheck } from '@herald/db';
import { createOutboxGauges, createScheduler, RetentionPurger } from '@herald/scheduler';

runService(
  'scheduler',
  () => loadSchedulerConfig(process.env),
  async (config, { log, stack }) => {
    const redis = stack.own(createWorkerConnection(config.redisUrl), (r) => r.quit(), 'redis');
    redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
    const db = stack.own(
      createDatabase(config.databaseUrl, { max: 5, applicationName: 'herald-scheduler' }),
      (d) => d.close(),
      'postgres',
    );
    const queues = stack.own(
      createLaneQueues(redis, config.queuePrefix),
      (q) => closeQueues(q.values()),
      'queues',
    );
    const dlqs = stack.own(
      createDeadLetterQueues(redis, config.queuePrefix),
      (q) => closeQueues(q.values()),
      'dead-letter queues',
    );
    const registry = createRegistry('scheduler');
    createQueueGauges(registry, queueGaugeCollectors(queues.values(), dlqs));
    createOutboxGauges(registry, db.pool);
    const scheduler = stack.own(
      createScheduler({
        pool: db.pool,
        queues,
        retry: config.retry,
        links: { publicUrl: config.publicUrl, unsubscribeSecret: config.unsubscribeSecret },
        log,
        deliveries: createDeliveriesCounter(registry),
        tickMs: config.tickMs,
        fanout: { windowJobs: config.campaignWindowJobs, pageSize: config.campaignPageSize },
      }),
      (s) => s.close(),
      'scheduler',
    );
    scheduler.start();
    if (config.retentionDays > 0) {
      const purger = stack.own(
        new RetentionPurger({ pool: db.pool, days: config.retentionDays, log, registry }),
        (p) => p.close(),
        'retention',
      );
      purger.start();
    }
    const ops = await startOpsServer({
      port: config.metricsPort,
      registry,
      log,
      checks: {
        redis: async () => {
          await redis.ping();
        },
        postgres: async () => {
          await db.pool.query('SELECT 1');
        },
        schema: createSchemaCheck(db.pool),
      },
    });
    stack.own(ops, (o) => o.close(), 'ops-server');
    if (!config.unsubscribeSecret)
      log.warn('no UNSUBSCRIBE_SECRET or JWT_SECRET: campaign emails go without unsubscribe links');
    log.info(
      { metricsPort: ops.port, retentionDays: config.retentionDays || 'forever' },
      'scheduler started',
    );
  },
);
