import type { ClickHouseClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Clock, systemClock } from '../src/clock.js';
import type { Config } from '../src/config/schema.js';
import { GatewayError } from '../src/errors.js';
import { Keyspace } from '../src/keys.js';
import { type Logger, createLogger } from '../src/log.js';
import { createRegistry } from '../src/metrics/registry.js';
import { OpsServer } from '../src/ops/server.js';
import { connectRedis } from '../src/redis/connect.js';
import { Scripts } from '../src/redis/scripts.js';
import { type ClickHouseFeatures, detectFeatures } from './clickhouse-features.js';
import { asClickHouseError, connectClickHouse } from './clickhouse-connect.js';
import { assertRetentionSafe, probeDurability } from './durability.js';
import { createFaultHook } from './fault-hook.js';
import type { LoadJobData } from './load-job.js';
import { LoaderWorker } from './loader-worker.js';
import { createLoaderMetrics, createSchedulerMetrics } from './metrics.js';
import { Migrator } from './migrator.js';
import { assertNoEviction } from './redis-policy.js';
import { SegmentLoader } from './segment-loader.js';
import { SegmentScheduler } from './segment-scheduler.js';
import { SegmentStateStore } from './segment-state-store.js';
import { ClickHouseEventSink, type EventSink } from './wal-events-sink.js';

/** The WAL roots a loader scans: `loader.walDirs`, or the `wal.dir` of the same config. */
export function walDirsOf(config: Config): string[] {
  return config.loader.walDirs.length > 0 ? [...config.loader.walDirs] : [config.wal.dir];
}

export interface LoaderProcessOptions {
  readonly clock?: Clock;
  /** Wraps the ClickHouse sink (tests and benches: a slowed or instrumented ClickHouse). */
  readonly wrapSink?: (sink: EventSink) => EventSink;
}

/**
 * One loader process: checks Redis (noeviction), applies ClickHouse migrations, then runs the BullMQ
 * worker and (by default) the scheduler's scan loop, with an ops server for health and metrics.
 * Start-up fails fast with a typed error; once running, ClickHouse outages only delay loads.
 */
export class LoaderProcess {
  private constructor(
    readonly logger: Logger,
    readonly features: ClickHouseFeatures,
    readonly opsAddress: string,
    private readonly parts: {
      redis: Redis;
      bullRedis: Redis;
      queue: Queue<LoadJobData>;
      clickhouse: ClickHouseClient;
      worker: LoaderWorker;
      scheduler: SegmentScheduler | undefined;
      ops: OpsServer;
    },
  ) {}

  static async start(config: Readonly<Config>, options: LoaderProcessOptions = {}): Promise<LoaderProcess> {
    const clock = options.clock ?? systemClock;
    const loaderId = config.processId;
    const logger = createLogger({ level: config.log.level, processId: loaderId, component: 'loader' });
    if (config.loader.faultHook)
      logger.warn({ faultHook: config.loader.faultHook }, 'TEST-ONLY fault hook is set');
    const registry = createRegistry({ process_id: loaderId, component: 'loader' });
    const keys = new Keyspace(config.redis.keyPrefix);
    const walDirs = walDirsOf(config);

    const redis = await connectRedis({
      url: config.redis.stateUrl,
      name: `loader:${loaderId}`,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      connectTimeoutMs: config.redis.connectTimeoutMs,
    });
    const closers: (() => unknown)[] = [() => redis.disconnect()];
    try {
      await assertNoEviction(redis);
      const scripts = new Scripts();
      scripts.register(redis);
      const store = new SegmentStateStore(redis, scripts, keys);

      const admin = connectClickHouse(config.clickhouse, { database: 'default', maxConnections: 1 });
      closers.push(() => admin.close());
      const clickhouse = connectClickHouse(config.clickhouse, {
        maxConnections: config.loader.concurrency + 2,
      });
      closers.push(() => clickhouse.close());
      const features = await detectFeatures(admin).catch((err) => {
        throw asClickHouseError(err, 'feature detection');
      });
      await new Migrator(admin, clickhouse, config.clickhouse.database, logger).apply(features);
      const durability = await probeDurability(redis, features);
      assertRetentionSafe(config.loader.retention, durability);
      logger.info(
        {
          clickhouse_version: features.version,
          dedup_token: features.insertDeduplicationToken,
          redis_persistence: durability.redisDetail,
          rows_fsynced: durability.rowsDurable,
          retention: config.loader.retention,
        },
        'schema ready',
      );
      if (!durability.redisDurable) {
        logger.warn(
          { redis_persistence: durability.redisDetail },
          'Redis does not fsync every write: a Redis crash may forget recent LOADED marks (harmless: the ' +
            'rows were verified first and archived files stay), but loader state belongs on an AOF Redis',
        );
      }

      // BullMQ needs its own connections that wait out Redis blips (maxRetriesPerRequest: null).
      const bullRedis = new Redis(config.redis.stateUrl, {
        maxRetriesPerRequest: null,
        connectionName: `loader-bull:${loaderId}`,
      });
      bullRedis.on('error', () => {});
      closers.push(() => bullRedis.disconnect());
      const prefix = keys.bullmqPrefix();
      const queue = new Queue<LoadJobData>(config.loader.queueName, { connection: bullRedis, prefix });
      closers.push(() => queue.close());

      const loader = new SegmentLoader({
        loaderId,
        config: config.loader,
        store,
        sink: (options.wrapSink ?? ((sink) => sink))(new ClickHouseEventSink(clickhouse, features)),
        clock,
        logger,
        metrics: createLoaderMetrics(registry),
        fault: createFaultHook(config.loader.faultHook),
      });
      const worker = new LoaderWorker({
        connection: bullRedis,
        prefix,
        config: config.loader,
        walDirs,
        loader,
        logger,
      });
      const scheduler = config.loader.scheduler.enabled
        ? new SegmentScheduler({
            queue,
            store,
            walDirs,
            config: config.loader,
            clock,
            logger,
            metrics: createSchedulerMetrics(registry),
          })
        : undefined;

      let ready = false;
      const ops = new OpsServer({
        registry,
        logger,
        adminToken: config.ops.adminToken,
        readiness: () => ({ ready, detail: { loader_id: loaderId, clickhouse_version: features.version } }),
      });
      const opsAddress = await ops.listen(config.ops.host, config.ops.port);
      worker.start();
      scheduler?.start();
      ready = true;
      logger.info(
        { ops: opsAddress, wal_dirs: walDirs, concurrency: config.loader.concurrency },
        'loader ready',
      );
      return new LoaderProcess(logger, features, opsAddress, {
        redis,
        bullRedis,
        queue,
        clickhouse,
        worker,
        scheduler,
        ops,
      });
    } catch (err) {
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
      logger.fatal(
        { err, code: err instanceof GatewayError ? err.code : undefined },
        'loader failed to start',
      );
      throw err;
    }
  }

  /** Stops taking jobs, lets running loads finish (or give up their claims), closes everything. */
  async stop(): Promise<void> {
    const { scheduler, worker, ops, queue, clickhouse, bullRedis, redis } = this.parts;
    await scheduler?.stop();
    await worker.stop();
    await ops.close();
    await queue.close();
    await clickhouse.close();
    bullRedis.disconnect();
    redis.disconnect();
  }
}
