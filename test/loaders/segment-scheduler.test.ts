import { writeFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loaderSection } from '../../loaders/config.js';
import type { LoadJobData } from '../../loaders/load-job.js';
import { createSchedulerMetrics } from '../../loaders/metrics.js';
import { SegmentScheduler } from '../../loaders/segment-scheduler.js';
import { SegmentState, SegmentStateStore } from '../../loaders/segment-state-store.js';
import type { Clock } from '../../src/clock.js';
import { createLogger } from '../../src/log.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { tempDir, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { type FixtureSegment, writeSegment } from './fixtures.js';

const SECOND_NS = 1_000_000_000n;
/** Wall time the manifests below were "sealed" at, far from now so only the test clock matters. */
const BASE_NS = 1_700_000_000n * SECOND_NS;

/** A clock the test moves by hand: the lag and the drain rate depend only on it. */
class ManualClock implements Clock {
  mono = 1_000;
  wall = BASE_NS;
  monoMs(): number {
    return this.mono;
  }
  wallNs(): bigint {
    return this.wall;
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += BigInt(ms) * 1_000_000n;
  }
}

describe('segment scheduler (real Redis and BullMQ): jobs and the backlog metrics', () => {
  let server: RedisServer;
  let redis: Redis;
  let n = 0;
  let keys: Keyspace;
  let store: SegmentStateStore;
  let queue: Queue<LoadJobData>;
  let registry: Registry;
  let clock: ManualClock;
  let walDir: string;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = await connectRedis({ url: server.url, name: 'scheduler-test' });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(() => {
    n += 1;
    keys = new Keyspace(`{sched${n}}`);
    const scripts = new Scripts();
    scripts.register(redis);
    store = new SegmentStateStore(redis, scripts, keys);
    queue = new Queue<LoadJobData>('wal-load', {
      connection: { url: server.url },
      prefix: keys.bullmqPrefix(),
    });
    registry = new Registry();
    clock = new ManualClock();
    walDir = tempDir('sched-wal');
  });
  afterEach(async () => {
    await queue?.close();
  });

  const scheduler = (metricsRegistry = registry) =>
    new SegmentScheduler({
      queue,
      store,
      walDirs: [walDir],
      config: loaderSection.parse({}),
      clock,
      logger: createLogger({ level: 'silent', processId: 'scheduler-test' }),
      metrics: createSchedulerMetrics(metricsRegistry),
    });

  /** A fixture segment whose manifest says it was sealed `sealedAtS` seconds after BASE_NS. */
  function sealed(firstSeq: number, count: number, sealedAtS: number): FixtureSegment {
    const s = writeSegment(walDir, { firstSeq, count });
    const manifest = { ...s.manifest, sealedTsNs: String(BASE_NS + BigInt(sealedAtS) * SECOND_NS) };
    writeFileSync(s.manifestPath, JSON.stringify(manifest));
    return { ...s, manifest };
  }

  async function gauge(name: string): Promise<number> {
    const metric = await registry.getSingleMetric(`hft_loader_${name}`)?.get();
    return metric?.values[0]?.value ?? Number.NaN;
  }

  async function load(s: FixtureSegment, to: SegmentState.LOADED | SegmentState.QUARANTINED): Promise<void> {
    const token = `t-${s.manifest.segmentId}`;
    await store.claim(s.manifest.segmentId, 'l1', token, 60_000, s.manifest);
    await store.advance(s.manifest.segmentId, {
      token,
      from: SegmentState.CLAIMED,
      to,
      rows: s.manifest.recordCount,
      bytes: s.manifest.bytes,
      reason: 'checksum',
    });
  }

  it('enqueues one job per sealed segment (job id = segment id) and publishes backlog, lag, rate, ETA and quarantined', async () => {
    const a = sealed(1, 100, 0);
    const b = sealed(1_000, 300, 2);
    const c = sealed(2_000, 50, 5);
    const sched = scheduler();
    clock.advance(10_000);

    expect(await sched.scanOnce()).toMatchObject({
      sealed: 3,
      enqueued: 3,
      backlogSegments: 3,
      backlogRows: 450,
    });
    const jobs = await queue.getJobs(['waiting']);
    expect(jobs.map((j) => j.id).sort()).toEqual([a, b, c].map((s) => s.manifest.segmentId).sort());
    expect(await gauge('backlog_segments')).toBe(3);
    expect(await gauge('backlog_bytes')).toBe(a.manifest.bytes + b.manifest.bytes + c.manifest.bytes);
    expect(await gauge('backlog_rows')).toBe(450);
    expect(await gauge('replay_lag_seconds')).toBe(10); // a, sealed at 0, is the oldest unloaded
    expect(await gauge('drain_eta_seconds')).toBe(-1); // backlog, and no progress seen yet

    await load(a, SegmentState.LOADED);
    await load(c, SegmentState.QUARANTINED);
    clock.advance(1_000);
    expect(await sched.scanOnce()).toMatchObject({ enqueued: 0, backlogSegments: 1, quarantined: 1 });
    expect(await gauge('backlog_segments')).toBe(1);
    expect(await gauge('backlog_bytes')).toBe(b.manifest.bytes);
    expect(await gauge('replay_lag_seconds')).toBe(9); // now b (sealed at 2) is the oldest unloaded
    expect(await gauge('quarantined_segments')).toBe(1);
    expect(await gauge('drain_rows_per_second')).toBe(100); // a's 100 rows in the last second
    expect(await gauge('drain_eta_seconds')).toBe(3); // 300 rows left at 100 rows/s

    await load(b, SegmentState.LOADED);
    clock.advance(1_000);
    await sched.scanOnce();
    expect(await gauge('backlog_segments')).toBe(0);
    expect(await gauge('replay_lag_seconds')).toBe(0);
    expect(await gauge('drain_eta_seconds')).toBe(0);
    expect(await queue.count()).toBe(3); // nothing enqueued twice
  });

  it('keeps completed jobs, so a scheduler that sees a finished segment again adds nothing that runs', async () => {
    const s = sealed(1, 10, 0);
    const runs: string[] = [];
    const worker = new Worker<LoadJobData>(
      'wal-load',
      async (job) => {
        runs.push(job.id as string);
        return 'loaded';
      },
      { connection: { url: server.url }, prefix: keys.bullmqPrefix() },
    );
    try {
      await scheduler().scanOnce();
      await waitFor(
        'job completed',
        async () => (await queue.getJobState(s.manifest.segmentId)) === 'completed',
      );
    } finally {
      await worker.close();
    }
    const finishedOn = (await queue.getJob(s.manifest.segmentId))?.finishedOn;
    // A fresh scheduler (a restarted loader) still sees the segment's files and adds its job again: with
    // the completed job kept, that add is a no-op (a new job would sit in `waiting`: no worker runs now).
    expect(await scheduler(new Registry()).scanOnce()).toMatchObject({ enqueued: 1 });
    expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'completed')).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
    });
    const job = await queue.getJob(s.manifest.segmentId);
    expect(job?.finishedOn).toBe(finishedOn);
    expect(runs).toEqual([s.manifest.segmentId]);
    const defaults = loaderSection.parse({});
    expect(job?.opts.removeOnComplete).toEqual({
      age: defaults.completedJobRetentionMs / 1_000,
      count: defaults.completedJobRetentionCount,
    });
  });
});
