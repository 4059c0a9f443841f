/**
 * Loader benchmark (real BullMQ, Redis, ClickHouse 18.16, loader processes spawned like production).
 *
 * Part 1, throughput: rows/s of one and of two loader processes ingesting the same sealed segment files,
 * side by side with a direct HTTP insert of those files into the same ClickHouse (the ceiling:
 * `INSERT … FORMAT JSONEachRow` with the file as the body, no verification, no state). The ceiling is the
 * best of several direct-insert concurrencies, so a loader cannot look good against a starved baseline;
 * every loader run also gets a direct insert at the best concurrency right before it (the machine is
 * shared, so the load changes within a bench run), and the ceiling is the best direct run of the bench.
 * Each loader run starts with the segments renamed into an empty WAL dir and ends when every segment is
 * ARCHIVED (claimed, checksummed, inserted, verified present, LOADED, retained). Then `--rounds` pairs of
 * (direct insert at the best concurrency, one loader at the default concurrency), the order swapped every
 * round: the ratio of their medians compares equally many runs of each side, where the ratio against the
 * best direct run of the bench compares one loader run with the best of many direct ones.
 *
 * Part 2, replay lag at a steady input rate: the real WalWriter, in its own process (producer.ts), records
 * `--lag-rate` events/s (four topics, ~100-byte payloads, the WAL's default rotation unless overridden) for `--lag-seconds` while
 * loaders drain; every 250 ms the bench scrapes `hft_loader_replay_lag_seconds` (age of the oldest sealed
 * segment not yet LOADED, the alerting metric) from every loader and keeps the highest. Reported: p50,
 * p99 and max of those samples, and of the per-segment lag (LOADED time − sealed time). Afterwards every
 * recorded event must be in ClickHouse exactly once.
 *
 * `--pin` (bench/loader/pin.ts): ClickHouse on CPU 0, Redis, this process (the direct insert's sender) and
 * the loaders on CPU 1, for the ceiling and the loader runs alike: ClickHouse as if on its own host, as in
 * production, so the loader's CPU is no longer taken from ClickHouse's. Prints every process's
 * Cpus_allowed_list (and the load average) at the start and after each loader run.
 *
 *   npx tsx bench/loader/run.ts [--segments=48] [--records=50000] [--concurrency=<loader default>]
 *     [--one-loader-concurrencies=<concurrency>[,…]]
 *     [--lag-seconds=60] [--lag-rate=100000] [--lag-loaders=1] [--segment-max-mb=<wal default>]
 *     [--segment-max-age-ms=<wal default>]
 *     [--rounds=5] [--skip-throughput] [--skip-lag] [--timeline] [--stop-merges] [--pin]
 */
import { linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectClickHouse } from '../../loaders/clickhouse-connect.js';
import { detectFeatures } from '../../loaders/clickhouse-features.js';
import { loaderSection } from '../../loaders/config.js';
import { Migrator } from '../../loaders/migrator.js';
import { SegmentState } from '../../loaders/segment-state-store.js';
import { clickhouseSection } from '../../src/config/sections.js';
import { createLogger } from '../../src/log.js';
import { MANIFEST_SUFFIX } from '../../src/wal/manifest.js';
import type { WalTopic } from '../../src/wal/recorder.js';
import { ClickHouseServer } from '../../test/harness/clickhouse-server.js';
import { type Spawned, spawnTs, tempDir, waitFor } from '../../test/harness/process.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { type FixtureSegment, writeBacklog } from '../../test/loaders/fixtures.js';
import { LoaderScenario } from '../../test/loaders/loader-env.js';
import { argInt, latencyHistogram, median, report } from '../lib/report.js';
import { postFile } from './direct-insert.js';
import { CLICKHOUSE_CPU, CLIENT_CPU, checkAffinity, coreBusy, coreTicks, load1, pidOf, pin } from './pin.js';
import { TimelineCollector } from './timeline.js';

const flag = (name: string) => process.argv.includes(`--${name}`);
const segmentCount = argInt('segments', 48);
const recordsPerSegment = argInt('records', 50_000);
const loaderDefaults = loaderSection.parse({});
const concurrency = argInt('concurrency', loaderDefaults.concurrency);
/** `--one-loader-concurrencies=2,3,4`: the one-loader run repeated at each, in the same bench run. */
const oneLoaderConcurrencies = (
  process.argv.find((a) => a.startsWith('--one-loader-concurrencies='))?.split('=')[1] ?? String(concurrency)
)
  .split(',')
  .map(Number);
/** Alternating rounds of (direct insert, one loader), the order swapped each round; 0 skips them. */
const rounds = argInt('rounds', 5);
const lagSeconds = argInt('lag-seconds', 60);
const lagRate = argInt('lag-rate', 100_000);
const lagLoaders = argInt('lag-loaders', 1);
const segmentMaxMb = argInt('segment-max-mb', 0);
const segmentMaxAgeMs = argInt('segment-max-age-ms', 0);
const CEILING_CONCURRENCIES = [...new Set([1, 2, 4, concurrency])].sort((a, b) => a - b);
const LAG_TOPICS: WalTopic[] = ['gateway.intent', 'gateway.decision', 'gateway.fill', 'market.tick'];

const [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
const pinned = flag('pin');
const serverPids = { clickhouse: pidOf(clickhouse), redis: pidOf(redisServer), bench: process.pid };
const expectedCpu = { clickhouse: CLICKHOUSE_CPU, redis: CLIENT_CPU, bench: CLIENT_CPU };
if (pinned) {
  // The bench first: the loaders and the producer it spawns later inherit its affinity.
  pin(process.pid, CLIENT_CPU);
  pin(serverPids.redis, CLIENT_CPU);
  pin(serverPids.clickhouse, CLICKHOUSE_CPU);
}
const affinityAtStart = checkAffinity('at start', serverPids, pinned ? expectedCpu : undefined);
const staging = tempDir('bench-stage');
const segments = writeBacklog(staging, { segments: segmentCount, recordsPerSegment, producerId: 'gw-bench' });
const totalRows = segmentCount * recordsPerSegment;
const totalBytes = segments.reduce((n, s) => n + s.manifest.bytes, 0);

/** How busy each CPU was during the last timed run (ceiling or loaders), `cpu0/cpu1`. */
let lastBusy = '';

/** Direct insert: each file POSTed as it is, `parallel` at a time, into a fresh database. */
async function ceiling(parallel: number): Promise<number> {
  const database = `bench_direct_${Date.now()}`;
  await migrate(database);
  let next = 0;
  const ticks0 = coreTicks();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < segments.length) {
        const s = segments[next++] as FixtureSegment;
        await postFile(clickhouse.url, database, s.segmentPath);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1_000;
  lastBusy = coreBusy(ticks0);
  await clickhouse.query(`DROP DATABASE ${database}`);
  return seconds;
}

async function migrate(database: string): Promise<void> {
  const cfg = clickhouseSection.parse({ url: clickhouse.url, database });
  const admin = connectClickHouse(cfg, { database: 'default' });
  const db = connectClickHouse(cfg);
  const logger = createLogger({ level: 'warn', processId: 'bench' });
  await new Migrator(admin, db, database, logger).apply(await detectFeatures(admin));
  await Promise.all([admin.close(), db.close()]);
}

/** Loader settings of the bench: the defaults, except a short scan interval so t0 is not a scan wait. */
function loaderOverrides(scanIntervalMs: number, loaderConcurrency = concurrency) {
  return {
    concurrency: loaderConcurrency,
    batchRows: loaderDefaults.batchRows,
    claimTtlMs: loaderDefaults.claimTtlMs,
    jobLockMs: loaderDefaults.jobLockMs,
    stalledIntervalMs: loaderDefaults.stalledIntervalMs,
    scheduler: { scanIntervalMs, rescueAfterMs: loaderDefaults.scheduler.rescueAfterMs },
  };
}

/** Wall-clock ms with µs resolution, comparable with the loaders' timeline marks. */
const wallMs = () => performance.timeOrigin + performance.now();

/**
 * Segments staged beside the WAL dir, then renamed in at t0 (segment file first, manifest last). Prints
 * where the segments' wall time went (per-phase summary; every segment's marks with `--timeline`).
 */
async function loaders(count: number, loaderConcurrency = concurrency): Promise<number> {
  const scenario = await LoaderScenario.create(redisServer, clickhouse);
  const stage = `${scenario.walDir}.stage`;
  linkTree(staging, stage);
  const timelines = new TimelineCollector();
  const loaderPids: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const proc = await scenario.spawnLoader(`bench-${i}`, {
        loader: loaderOverrides(100, loaderConcurrency),
      });
      timelines.watch(`bench-${i}`, proc.child.stdout);
      loaderPids[`loader-${i}`] = proc.child.pid as number;
    }),
  );
  const ids = segments.map((s) => s.manifest.segmentId);
  const ticks0 = coreTicks();
  const t0 = performance.now();
  const t0Wall = wallMs();
  moveIn(stage, scenario.walDir);
  await waitFor(
    'all loaded',
    async () => (await scenario.store.states(ids)).every((s) => s === SegmentState.ARCHIVED),
    { timeoutMs: 600_000, intervalMs: 20 },
  );
  const seconds = (performance.now() - t0) / 1_000;
  lastBusy = coreBusy(ticks0);
  const t1Wall = wallMs();
  // After the run: threads ClickHouse or a loader started meanwhile are counted too.
  checkAffinity(
    `after ${count} loader(s), concurrency ${loaderConcurrency}`,
    { ...serverPids, ...loaderPids },
    pinned
      ? { ...expectedCpu, ...Object.fromEntries(Object.keys(loaderPids).map((n) => [n, CLIENT_CPU])) }
      : undefined,
  );
  rmSync(stage, { recursive: true, force: true }); // only empty dirs are left there (not a temp dir)
  await new Promise((r) => setTimeout(r, 100)); // the last log lines may still be on their way
  console.log(
    `-- ${count} loader(s), concurrency ${loaderConcurrency}: where the segments' wall time went (ms; avg_in_phase = sum / wall)`,
  );
  report(`loader-timeline-${count}x${loaderConcurrency}`, timelines.summary(t0Wall, t1Wall));
  if (flag('timeline')) report(`loader-segments-${count}x${loaderConcurrency}`, timelines.table(t0Wall));
  const counts = await scenario.counts();
  if (counts.distinct !== totalRows) throw new Error(`expected ${totalRows} rows, found ${counts.distinct}`);
  await scenario.close();
  await clickhouse.query(`DROP DATABASE ${scenario.database}`);
  return seconds;
}

/**
 * The staged segments hard-linked into a loader run's stage dir: the loader only renames (archives) or
 * unlinks them, never writes them, and a 436 MB copy per run would leave the next runs competing with
 * its write-back.
 */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) linkTree(join(from, entry.name), join(to, entry.name));
    else linkSync(join(from, entry.name), join(to, entry.name));
  }
}

function moveIn(stage: string, walDir: string): void {
  for (const producer of readdirSync(stage)) {
    for (const topic of readdirSync(join(stage, producer))) {
      const from = join(stage, producer, topic);
      const to = join(walDir, producer, topic);
      mkdirSync(to, { recursive: true });
      const names = readdirSync(from);
      for (const n of names.filter((f) => f.endsWith('.seg'))) renameSync(join(from, n), join(to, n));
      for (const n of names.filter((f) => f.endsWith(MANIFEST_SUFFIX)))
        renameSync(join(from, n), join(to, n));
    }
  }
}

/** The WAL producer process at `lagRate` events/s while `lagLoaders` loaders (default settings) drain. */
async function replayLag() {
  const scenario = await LoaderScenario.create(redisServer, clickhouse);
  const procs: Spawned[] = [];
  for (let i = 0; i < lagLoaders; i += 1) {
    procs.push(
      await scenario.spawnLoader(`bench-lag-${i}`, {
        loader: loaderOverrides(loaderDefaults.scheduler.scanIntervalMs),
      }),
    );
  }
  const producer = spawnTs('bench/loader/producer.ts', [
    `--dir=${scenario.walDir}`,
    `--rate=${lagRate}`,
    `--seconds=${lagSeconds}`,
    `--segment-max-mb=${segmentMaxMb}`,
    `--segment-max-age-ms=${segmentMaxAgeMs}`,
  ]);
  const producerExit = producer.exited();

  // Samples cover the steady run: until the producer stops recording and seals its open segments.
  const samples = latencyHistogram();
  let maxBacklog = 0;
  let running = true;
  void producerExit.then(() => {
    running = false;
  });
  while (running) {
    const started = performance.now();
    const [lags, backlogs] = await Promise.all([
      Promise.all(procs.map((p) => scenario.metric(p, 'hft_loader_replay_lag_seconds'))),
      Promise.all(procs.map((p) => scenario.metric(p, 'hft_loader_backlog_segments'))),
    ]);
    maxBacklog = Math.max(maxBacklog, ...backlogs);
    samples.recordValue(Math.max(1, Math.round(Math.max(...lags) * 1e6)));
    if (process.env.BENCH_DEBUG) console.log('sample', Date.now(), lags, backlogs);
    await new Promise((r) => setTimeout(r, Math.max(0, 250 - (performance.now() - started))));
  }
  if ((await producerExit) !== 0) throw new Error(`producer failed: ${producer.output()}`);
  const produced = JSON.parse(producer.output().trim().split('\n').at(-1) as string) as {
    recorded: number;
    refused: number;
    seconds: number;
    segmentMaxBytes: number;
    segmentMaxAgeMs: number;
  };
  const recorded = produced.recorded;
  const producerId = 'gw-lag';

  await waitFor(
    'lag run drained',
    async () => {
      let left = 0;
      for (const topic of LAG_TOPICS) {
        const dir = join(scenario.walDir, producerId, topic);
        left += readdirSync(dir).filter((f) => f.endsWith(MANIFEST_SUFFIX)).length;
      }
      return left === 0;
    },
    { timeoutMs: 600_000, intervalMs: 200 },
  );
  const counts = await scenario.counts(`producer_id = '${producerId}'`);
  if (counts.final !== recorded || counts.distinct !== recorded) {
    throw new Error(`recorded ${recorded}, ClickHouse has ${JSON.stringify(counts)}`);
  }

  // Per-segment lag: LOADED (Redis time) − sealed (manifest), from the archived manifests.
  const perSegment = latencyHistogram();
  let segmentsLoaded = 0;
  for (const topic of LAG_TOPICS) {
    const archive = join(scenario.walDir, producerId, topic, 'archive');
    for (const name of readdirSync(archive).filter((f) => f.endsWith(MANIFEST_SUFFIX))) {
      const m = JSON.parse(readFileSync(join(archive, name), 'utf8')) as {
        segmentId: string;
        sealedTsNs: string;
      };
      const loadedMs = Number((await scenario.store.describe(m.segmentId)).loaded_ms);
      const sealedMs = Number(BigInt(m.sealedTsNs) / 1_000_000n);
      perSegment.recordValue(Math.max(1, (loadedMs - sealedMs) * 1_000));
      if (process.env.BENCH_DEBUG)
        console.log(
          'segment',
          m.segmentId,
          sealedMs,
          loadedMs,
          loadedMs - sealedMs,
          'manifest written +',
          Math.round(statSync(join(archive, name)).mtimeMs - sealedMs),
        );
      segmentsLoaded += 1;
    }
  }
  await scenario.close();
  await clickhouse.query(`DROP DATABASE ${scenario.database}`);
  const ms = (h: ReturnType<typeof latencyHistogram>, p: number) =>
    Math.round(h.getValueAtPercentile(p) / 1_000);
  return {
    loaders: lagLoaders,
    input_events_per_s: Math.round(recorded / produced.seconds),
    events: recorded,
    refused: produced.refused,
    seconds: Number(produced.seconds.toFixed(1)),
    segment_max_mb: Math.round(produced.segmentMaxBytes / 1024 / 1024),
    segment_max_age_ms: produced.segmentMaxAgeMs,
    scan_interval_ms: loaderDefaults.scheduler.scanIntervalMs,
    segments: segmentsLoaded,
    max_backlog_segments: maxBacklog,
    metric_samples: samples.totalCount,
    metric_p50_ms: ms(samples, 50),
    metric_p99_ms: ms(samples, 99),
    metric_max_ms: Math.round(samples.maxValue / 1_000),
    segment_p50_ms: ms(perSegment, 50),
    segment_p99_ms: ms(perSegment, 99),
    segment_max_ms: Math.round(perSegment.maxValue / 1_000),
    load1_end: load1(),
  };
}

/** One timed run of the throughput part: merges settled first, load and CPU busy noted under `name`. */
type TimedRun = (name: string, run: () => Promise<number>) => Promise<number>;

/**
 * `rounds` pairs of a direct insert at the best concurrency and one loader at the default concurrency,
 * each pair's order swapped from the last, so neither side keeps the earlier (or later) slot while the
 * shared machine drifts. The wall-clock ratio against the best direct run of a bench compares one loader
 * run with the maximum of many direct ones; these pairs compare medians of equally many runs of each.
 * Returns [direct seconds, loader seconds] per round.
 */
async function alternatingRounds(bestC: number, timed: TimedRun): Promise<[number, number][]> {
  const pairs: [number, number][] = [];
  for (let i = 0; i < rounds; i += 1) {
    const directName = `round ${i + 1}: direct HTTP insert ×${bestC}`;
    const loaderName = `round ${i + 1}: 1 loader (concurrency ${concurrency})`;
    const directRun = () => timed(directName, () => ceiling(bestC));
    const loaderRun = () => timed(loaderName, () => loaders(1, concurrency));
    if (i % 2 === 0) {
      const d = await directRun();
      pairs.push([d, await loaderRun()]);
    } else {
      const l = await loaderRun();
      pairs.push([await directRun(), l]);
    }
  }
  return pairs;
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
  // --stop-merges: no background merges at all, so the direct inserts (whose database is dropped right
  // after, merges and all) and the loaders (whose merges run inside their longer window) are compared on
  // their INSERT path only. Off by default: production pays merges.
  if (flag('stop-merges')) {
    await waitFor('stop merges', async () => (await clickhouse.query('SYSTEM STOP MERGES')) === '');
  }
  const loadStart = load1();
  const extra: Record<string, unknown> = {
    date: new Date().toISOString(),
    // Retried: the first query after start-up sometimes meets the /ping probe's keep-alive socket closing.
    clickhouse_version: (await waitFor('version', () => clickhouse.query('SELECT version()'))).trim(),
    loader_concurrency: concurrency,
    batch_rows: loaderDefaults.batchRows,
    goals: { one_loader_ratio: 0.7, lag_p99_ms: 5_000 },
    load1_start: loadStart,
    merges: flag('stop-merges') ? 'stopped' : 'on',
    pinned,
    affinity_at_start: affinityAtStart,
  };
  if (!flag('skip-throughput')) {
    const direct = new Map<number, number>();
    /** 1-min load average at the start of each run, by row name. */
    const loadAt = new Map<string, number[]>();
    const noteLoad = (name: string) => loadAt.set(name, [...(loadAt.get(name) ?? []), load1()]);
    /** CPU0/CPU1 busy fraction during each run, by row name. */
    const busyAt = new Map<string, string[]>();
    const noteBusy = (name: string) => busyAt.set(name, [...(busyAt.get(name) ?? []), lastBusy]);
    const timed: TimedRun = async (name, run) => {
      await quiesce();
      noteLoad(name);
      const seconds = await run();
      noteBusy(name);
      return seconds;
    };
    for (const c of CEILING_CONCURRENCIES) {
      direct.set(c, await timed(`direct HTTP insert ×${c}`, () => ceiling(c)));
    }
    // The machine is shared: every loader run gets a direct insert at the best concurrency right before
    // it (the adjacent ceiling), and the ceiling is the best direct run of the whole bench.
    const bestC = [...direct].sort((a, b) => a[1] - b[1])[0]?.[0] ?? 4;
    const adjacent: number[] = [];
    const loaderRun = async (count: number, c: number) => {
      adjacent.push(await timed(`direct HTTP insert ×${bestC} (adjacent)`, () => ceiling(bestC)));
      const name = count === 1 ? `1 loader (concurrency ${c})` : `${count} loaders (concurrency ${c} each)`;
      return timed(name, () => loaders(count, c));
    };
    const ones: [number, number, number][] = [];
    for (const c of oneLoaderConcurrencies) {
      const s = await loaderRun(1, c);
      ones.push([c, s, adjacent.at(-1) as number]);
    }
    const two = await loaderRun(2, concurrency);
    const twoAdjacent = adjacent.at(-1) as number;
    const paired = await alternatingRounds(bestC, timed);
    const best = Math.min(...direct.values(), ...adjacent, ...paired.map(([d]) => d));
    const taken = new Map<string, number>();
    const row = (name: string, seconds: number, adjacentSeconds?: number) => ({
      name,
      ...(() => {
        const i = taken.get(name) ?? 0;
        taken.set(name, i + 1);
        return { load1: loadAt.get(name)?.[i] ?? '', cpu0_cpu1_busy: busyAt.get(name)?.[i] ?? '' };
      })(),
      rows: totalRows,
      mb: Math.round(totalBytes / 1e6),
      seconds: Number(seconds.toFixed(2)),
      rows_per_s: Math.round(totalRows / seconds),
      ratio_vs_ceiling: Number((best / seconds).toFixed(2)),
      ratio_vs_adjacent: adjacentSeconds === undefined ? '' : Number((adjacentSeconds / seconds).toFixed(2)),
    });
    const rows = [
      ...[...direct].map(([c, s]) => row(`direct HTTP insert ×${c}`, s)),
      ...adjacent.map((s) => row(`direct HTTP insert ×${bestC} (adjacent)`, s)),
      ...ones.map(([c, s, a]) => row(`1 loader (concurrency ${c})`, s, a)),
      row(`2 loaders (concurrency ${concurrency} each)`, two, twoAdjacent),
      ...paired.flatMap(([d, l], i) => [
        row(`round ${i + 1}: direct HTTP insert ×${bestC}`, d),
        row(`round ${i + 1}: 1 loader (concurrency ${concurrency})`, l, d),
      ]),
    ];
    extra.ceiling_rows_per_s = Math.round(totalRows / best);
    extra.one_loader_ratio = Number(
      (best / (ones.find(([c]) => c === concurrency) ?? ones[0] ?? [0, NaN])[1]).toFixed(2),
    );
    for (const [c, s, a] of ones) {
      extra[`one_loader_ratio_c${c}`] = Number((best / s).toFixed(2));
      extra[`one_loader_ratio_adjacent_c${c}`] = Number((a / s).toFixed(2));
    }
    extra.two_loader_ratio = Number((best / two).toFixed(2));
    if (paired.length > 0) {
      const ratios = paired.map(([d, l]) => d / l);
      extra.rounds = paired.length;
      extra.rounds_ratio_median = Number(median(ratios).toFixed(2));
      extra.rounds_ratio_of_medians = Number(
        (median(paired.map(([d]) => d)) / median(paired.map(([, l]) => l))).toFixed(2),
      );
      extra.rounds_ratio_range = [Math.min(...ratios), Math.max(...ratios)].map((r) => Number(r.toFixed(2)));
    }
    extra.load1_after_throughput = load1();
    report('loader', rows, extra);
  }
  if (!flag('skip-lag')) {
    await quiesce();
    const lag = await replayLag();
    extra.replay_lag = lag;
    report('loader-lag', [{ name: `replay lag at ${lag.input_events_per_s} events/s`, ...lag }], extra);
  }
} finally {
  await Promise.all([redisServer.stop(), clickhouse.stop()]);
}
