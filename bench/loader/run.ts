/**
 * Loader benchmark: rows/s of one and of two loader processes (real BullMQ, Redis, ClickHouse 18.16)
 * ingesting the same sealed segment files, side by side with a direct HTTP insert of those files into
 * the same ClickHouse (the ceiling: `INSERT … FORMAT JSONEachRow`, the file as the body, as many
 * concurrent inserts as one loader runs). Then replay lag at a steady input rate: a feeder seals one
 * segment every 100 ms (rate/10 records each) and the lag of each segment is LOADED time − sealed time.
 *
 *   npx tsx bench/loader/run.ts [--segments=12] [--records=50000] [--lag-seconds=5] [--lag-rate=100000]
 */
import { cpSync, createReadStream, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { connectClickHouse } from '../../loaders/clickhouse-connect.js';
import { detectFeatures } from '../../loaders/clickhouse-features.js';
import { Migrator } from '../../loaders/migrator.js';
import { SegmentState } from '../../loaders/segment-state-store.js';
import { clickhouseSection } from '../../src/config/sections.js';
import { createLogger } from '../../src/log.js';
import type { SegmentManifest } from '../../src/wal/manifest.js';
import { ClickHouseServer } from '../../test/harness/clickhouse-server.js';
import { tempDir, waitFor } from '../../test/harness/process.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { type FixtureSegment, writeBacklog, writeSegment } from '../../test/loaders/fixtures.js';
import { LoaderScenario } from '../../test/loaders/loader-env.js';
import { argInt, latencyHistogram, report } from '../lib/report.js';

const segmentCount = argInt('segments', 12);
const recordsPerSegment = argInt('records', 50_000);
const lagSeconds = argInt('lag-seconds', 5);
const lagRate = argInt('lag-rate', 100_000);
const CONCURRENCY = 2;
const loaderSettings = {
  batchRows: argInt('batch-rows', 50_000),
  concurrency: CONCURRENCY,
  claimTtlMs: 15_000,
  jobLockMs: 30_000,
};

const [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
const staging = tempDir('bench-stage');
const segments = writeBacklog(staging, { segments: segmentCount, recordsPerSegment, producerId: 'gw-bench' });
const totalRows = segmentCount * recordsPerSegment;
const totalBytes = segments.reduce((n, s) => n + s.manifest.bytes, 0);

/** The ceiling: each file POSTed as it is, CONCURRENCY at a time, into a fresh database. */
async function ceiling(): Promise<number> {
  const database = `bench_direct_${Date.now()}`;
  await migrate(database);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < segments.length) {
        const s = segments[next++] as FixtureSegment;
        await postFile(`${database}`, s.segmentPath);
      }
    }),
  );
  return (performance.now() - t0) / 1_000;
}

function postFile(database: string, path: string): Promise<void> {
  const url = new URL(clickhouse.url);
  url.searchParams.set('database', database);
  url.searchParams.set('query', 'INSERT INTO wal_events FORMAT JSONEachRow');
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(body))));
    });
    req.on('error', reject);
    createReadStream(path).pipe(req);
  });
}

async function migrate(database: string): Promise<void> {
  const cfg = clickhouseSection.parse({ url: clickhouse.url, database });
  const admin = connectClickHouse(cfg, { database: 'default' });
  const db = connectClickHouse(cfg);
  const logger = createLogger({ level: 'warn', processId: 'bench' });
  await new Migrator(admin, db, database, logger).apply(await detectFeatures(admin));
  await Promise.all([admin.close(), db.close()]);
}

/** Segments staged beside the WAL dir, then renamed in at t0 (segment file first, manifest last). */
async function loaders(count: number): Promise<number> {
  const scenario = await LoaderScenario.create(redisServer, clickhouse);
  const stage = `${scenario.walDir}.stage`;
  cpSync(staging, stage, { recursive: true });
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      scenario.spawnLoader(`bench-${i}`, {
        loader: { ...loaderSettings, scheduler: { scanIntervalMs: 100 } },
      }),
    ),
  );
  const ids = segments.map((s) => s.manifest.segmentId);
  const t0 = performance.now();
  moveIn(stage, scenario.walDir);
  await waitFor(
    'all loaded',
    async () => (await scenario.store.states(ids)).every((s) => s === SegmentState.ARCHIVED),
    { timeoutMs: 600_000, intervalMs: 20 },
  );
  const seconds = (performance.now() - t0) / 1_000;
  const counts = await scenario.counts();
  if (counts.distinct !== totalRows) throw new Error(`expected ${totalRows} rows, found ${counts.distinct}`);
  await scenario.close();
  return seconds;
}

function moveIn(stage: string, walDir: string): void {
  for (const producer of readdirSync(stage)) {
    for (const topic of readdirSync(join(stage, producer))) {
      const from = join(stage, producer, topic);
      const to = join(walDir, producer, topic);
      mkdirSync(to, { recursive: true });
      const names = readdirSync(from);
      for (const n of names.filter((f) => f.endsWith('.seg'))) renameSync(join(from, n), join(to, n));
      for (const n of names.filter((f) => f.endsWith('.manifest.json')))
        renameSync(join(from, n), join(to, n));
    }
  }
}

/** One segment sealed every 100 ms at `lagRate` records/s; lag = LOADED (Redis time) − sealed. */
async function replayLag() {
  const perSegment = Math.max(1, Math.round(lagRate / 10));
  const count = lagSeconds * 10;
  const stage = tempDir('bench-lag');
  const lagSegments = Array.from({ length: count }, (_, i) =>
    writeSegment(stage, { producerId: 'gw-lag', firstSeq: 1 + i * perSegment, count: perSegment }),
  );
  const scenario = await LoaderScenario.create(redisServer, clickhouse);
  await scenario.spawnLoader('bench-lag', {
    loader: { ...loaderSettings, scheduler: { scanIntervalMs: 100 } },
  });
  const sealedMs = new Map<string, number>();
  const t0 = performance.now();
  for (const [i, s] of lagSegments.entries()) {
    const due = t0 + i * 100;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const dir = join(scenario.walDir, 'gw-lag', s.manifest.topic);
    mkdirSync(dir, { recursive: true });
    renameSync(s.segmentPath, join(dir, `${s.manifest.segmentId}.seg`));
    const now = Date.now();
    const manifest: SegmentManifest = { ...s.manifest, sealedTsNs: String(BigInt(now) * 1_000_000n) };
    writeFileSync(join(dir, `${s.manifest.segmentId}.manifest.json`), JSON.stringify(manifest));
    sealedMs.set(s.manifest.segmentId, now);
  }
  const ids = lagSegments.map((s) => s.manifest.segmentId);
  await waitFor(
    'lag run loaded',
    async () => (await scenario.store.states(ids)).every((st) => st === SegmentState.ARCHIVED),
    { timeoutMs: 600_000, intervalMs: 50 },
  );
  const histogram = latencyHistogram();
  for (const id of ids) {
    const loaded = Number((await scenario.store.describe(id)).loaded_ms);
    histogram.recordValue(Math.max(1, (loaded - (sealedMs.get(id) as number)) * 1_000));
  }
  await scenario.close();
  return {
    p50_ms: Math.round(histogram.getValueAtPercentile(50) / 1_000),
    p99_ms: Math.round(histogram.getValueAtPercentile(99) / 1_000),
    max_ms: Math.round(histogram.maxValue / 1_000),
    input_rows_per_s: perSegment * 10,
  };
}

/** Lets background merges of the previous run finish, so they do not eat into the next one. */
async function quiesce(): Promise<void> {
  await waitFor(
    'merges finished',
    async () => (await clickhouse.query('SELECT count() FROM system.merges')).trim() === '0',
    { timeoutMs: 30_000, intervalMs: 100 },
  ).catch(() => undefined);
}

try {
  const direct = await ceiling();
  await quiesce();
  const one = await loaders(1);
  await quiesce();
  const two = await loaders(2);
  await quiesce();
  const lag = await replayLag();
  const row = (name: string, seconds: number) => ({
    name,
    rows: totalRows,
    mb: Math.round(totalBytes / 1e6),
    seconds: Number(seconds.toFixed(2)),
    rows_per_s: Math.round(totalRows / seconds),
    ratio_vs_ceiling: Number((direct / seconds).toFixed(2)),
  });
  const rows = [row('direct HTTP insert (ceiling)', direct), row('1 loader', one), row('2 loaders', two)];
  report('loader', rows, {
    replay_lag: lag,
    goals: { one_loader_ratio: 0.7, lag_p99_ms: 5_000 },
    clickhouse_version: '18.16',
  });
  console.log(
    `replay lag at ${lag.input_rows_per_s} rows/s input: p50 ${lag.p50_ms} ms, p99 ${lag.p99_ms} ms, max ${lag.max_ms} ms`,
  );
} finally {
  await Promise.all([redisServer.stop(), clickhouse.stop()]);
}
