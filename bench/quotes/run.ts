/**
 * Quote ingress benchmark (CE2-10). Two designs, same process, same pre-generated quote stream, same
 * processing code (schema v1 validation, exact normalization, real WalWriter in a temp dir, reference
 * prices, an in-process subscriber):
 *
 * - `enqueue-only`: the broker callback stamps and pushes into the ring; worker turns drain it in batches
 *   between the feed's macrotasks (setImmediate). This is the design in src/quotes.
 * - `inline parse`: the design it replaces: the callback validates, normalizes, records and publishes
 *   before returning (the same QuoteIngress with a scheduler that runs the worker turn synchronously).
 *
 * The driver plays a broker socket: each macrotask delivers a chunk of quotes through the callback, then
 * yields. Every callback is timed alone (performance.now() around the call; the clock's own cost is the
 * `clock overhead` row). Throughput is quotes processed per CPU-second of the whole process
 * (process.cpuUsage, all threads including the WAL's fs work), i.e. normalized per core.
 * `loop gap` is how long the feed's next chunk waited for the event loop (worker turns hold it).
 * More rows attribute the costs: the WAL taking the object (`record(topic, quote)`: it serializes and
 * escapes, the path before JsonPayload, this run's baseline for the WAL's share), the WAL replaced by a
 * recorder that discards (what quote processing alone costs), by one that takes the built JsonPayload and
 * discards it (processing + payload building), by one that only JSON.stringifies (the serialization the
 * record(topic, object) API implies), and the Redis stream publisher added (a real redis-server). `--all` adds small worker
 * batches (shorter loop gap) and the worker_threads experiment. `main_us_per_quote` is main-thread busy
 * time per quote (event-loop utilization; it includes the driver's own timing and histogram work).
 * The worker_threads row (bench/quotes/offload.ts) parses in one worker thread and records on the main
 * thread: it answers whether offloading frees the main thread.
 *
 * Every design runs once per round, rounds interleaved (`--rounds`, default 3): a row shows the round
 * with the median per_core_sec and the spread; ratios are medians of per-round ratios.
 *
 *   npx tsx bench/quotes/run.ts [--count=200000] [--rounds=3] [--chunk=64] [--batch=256] [--no-redis] [--all]
 */
import * as hdr from 'hdr-histogram-js';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { quotesSection } from '../../src/quotes/config.js';
import { FeedSimulator, type SimQuote } from '../../src/quotes/feed-sim.js';
import { Keyspace } from '../../src/keys.js';
import { QuoteIngress, type TurnScheduler } from '../../src/quotes/quote-ingress.js';
import { RedisQuotePublisher } from '../../src/quotes/redis-quote-publisher.js';
import { connectRedis } from '../../src/redis/connect.js';
import { walSection } from '../../src/wal/config.js';
import type { EventRecorder } from '../../src/wal/recorder.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { removeTempDir, tempDir } from '../../test/harness/process.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { argInt, median, report } from '../lib/report.js';
import { runOffload } from './offload.js';

const count = argInt('count', 200_000);
const chunk = argInt('chunk', 64);
const batch = argInt('batch', 256);
const rounds = argInt('rounds', 3);
const loadStart = Number((await import('node:os')).loadavg()[0]?.toFixed(2));
const distinct = 40_000;
const SYMBOLS = ['2330', '2317', '2454', '2303', '2882', '0050', '2412', '1301', 'TXFL6', 'MXFL6'];

function nsHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
}
const us = (ns: number) => Number((ns / 1_000).toFixed(2));

async function stream(): Promise<SimQuote[]> {
  const sim = new FeedSimulator({ seed: 1 });
  await sim.subscribe(SYMBOLS, ['tick', 'bidask']);
  return sim.generate(distinct);
}

interface Design {
  readonly name: string;
  /** undefined: the default setImmediate worker turns; `(turn) => turn()`: inline on the callback. */
  readonly scheduler?: TurnScheduler;
  readonly batch?: number;
  /**
   * `wal`: the real WalWriter (the workers build each quote's JsonPayload and call recordJson);
   * `wal-object`: the same WalWriter behind a recorder that has only record(topic, object), so the WAL
   * serializes and escapes the object itself (the path before JsonPayload, the baseline of this run);
   * `discard`: a recorder that drops the event (quote processing alone); `build`: one that takes
   * recordJson and drops it (quote processing + building the payload); `stringify`: one that only
   * JSON.stringifies the object (what the record(topic, object) API implies before the WAL's encoding).
   */
  readonly recorder?: 'wal' | 'wal-object' | 'discard' | 'build' | 'stringify';
  /** Publish to strategy workers through a real redis-server as well. */
  readonly redis?: boolean;
}

const INLINE: TurnScheduler = (turn) => turn();
const discard: EventRecorder = { record: () => 0 };
const buildOnly: EventRecorder = { record: () => 0, recordJson: () => 0 };
let stringified = 0;
const stringifyOnly: EventRecorder = {
  record: (_topic, payload) => {
    stringified += JSON.stringify(payload).length;
    return 0;
  },
};
let redisServer: RedisServer | undefined;

async function runDesign(design: Design, quotes: SimQuote[], count: number) {
  const { name, scheduler } = design;
  const dir = tempDir('bench-quotes');
  const logger = createLogger({ level: 'warn', processId: 'bench' });
  const registry = new Registry();
  const writer = await WalWriter.open(walSection.parse({ dir, disk: { enabled: false } }), {
    producerId: 'bench',
    logger,
    registry,
  });
  const config = quotesSection.parse({
    symbols: SYMBOLS,
    drainBatchSize: design.batch ?? batch,
    queueCapacity: 1 << 16,
  });
  const feed = new FeedSimulator({ seed: 1 });
  const recorderKind = design.recorder ?? 'wal';
  const ingress = new QuoteIngress(config, {
    feed,
    recorder: {
      wal: writer,
      'wal-object': { record: (topic, payload) => writer.record(topic, payload) } satisfies EventRecorder,
      discard,
      build: buildOnly,
      stringify: stringifyOnly,
    }[recorderKind],
    logger,
    registry,
    ...(scheduler ? { scheduler } : {}),
  });
  await ingress.start();
  let published = 0;
  ingress.publisher.subscribe(() => published++);
  let redisPublisher: RedisQuotePublisher | undefined;
  if (design.redis && redisServer === undefined) redisServer = await RedisServer.start();
  const redis =
    redisServer && design.redis
      ? await connectRedis({ url: redisServer.url, name: 'bench-quotes' })
      : undefined;
  if (redis) {
    redisPublisher = new RedisQuotePublisher(config.publish, {
      redis,
      keys: new Keyspace('{bench}'),
      registry,
      logger,
    });
    ingress.publisher.subscribe(redisPublisher.listener);
  }

  const callbackNs = nsHistogram();
  const gapNs = nsHistogram();
  const onTick = ingress.onTick;
  const onBidAsk = ingress.onBidAsk;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let sent = 0;
  while (sent < count) {
    const end = Math.min(count, sent + chunk);
    for (; sent < end; sent++) {
      const q = quotes[sent % quotes.length] as SimQuote;
      const callback = q.topic === 'tick' ? onTick : onBidAsk;
      const t0 = performance.now();
      callback(q.payload, q.symbolId);
      const t1 = performance.now();
      callbackNs.recordValue(Math.max(1, Math.round((t1 - t0) * 1e6)));
    }
    const asked = performance.now();
    await new Promise((resolve) => setImmediate(resolve));
    gapNs.recordValue(Math.max(1, Math.round((performance.now() - asked) * 1e6)));
  }
  await ingress.idle();
  await redisPublisher?.close();
  // WalWriter's fsync ticker is unref'd; keep the loop alive while awaiting the interval fsync.
  const keepAlive = setInterval(() => {}, 1_000);
  await writer.flush();
  clearInterval(keepAlive);
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const wallS = (performance.now() - wall0) / 1_000;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const metric = async (n: string) =>
    ((await registry.getSingleMetric(n)?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
  const row = {
    name,
    batch: design.batch ?? batch,
    recorder:
      recorderKind === 'wal'
        ? 'WalWriter'
        : recorderKind === 'wal-object'
          ? 'WalWriter.record'
          : recorderKind,
    redis: design.redis ? 'streams' : '',
    cb_p50_us: us(callbackNs.getValueAtPercentile(50)),
    cb_p99_us: us(callbackNs.getValueAtPercentile(99)),
    cb_p999_us: us(callbackNs.getValueAtPercentile(99.9)),
    cb_max_us: us(callbackNs.maxValue),
    loop_gap_p99_us: us(gapNs.getValueAtPercentile(99)),
    main_us_per_quote: Number(((elu.active * 1_000) / count).toFixed(2)),
    per_sec_wall: Math.round(count / wallS),
    per_core_sec: Math.round(published / cpuS),
    published,
    dropped: await metric('hft_quote_dropped_total'),
    rejected: await metric('hft_quote_schema_reject_total'),
    wal_refused: await metric('hft_quote_wal_refused_total'),
    redis_dropped: await metric('hft_quote_redis_dropped_total'),
    slow_path: await metric('hft_quote_validator_slow_path_total'),
  };
  redis?.disconnect();
  ingress.close();
  await writer.close();
  removeTempDir(dir);
  return row;
}

/** worker_threads experiment: parsing in one worker thread, recording on the main thread. */
async function offloadRow(quotes: SimQuote[], count: number) {
  const dir = tempDir('bench-quotes');
  const logger = createLogger({ level: 'warn', processId: 'bench' });
  const writer = await WalWriter.open(walSection.parse({ dir, disk: { enabled: false } }), {
    producerId: 'bench',
    logger,
    registry: new Registry(),
  });
  const result = await runOffload(quotes, count, batch, writer);
  const keepAlive = setInterval(() => {}, 1_000);
  await writer.close();
  clearInterval(keepAlive);
  removeTempDir(dir);
  return { name: 'worker_threads parse (experiment)', batch, recorder: 'WalWriter', ...result };
}

/** The cost of the two performance.now() calls around an empty callback. */
function clockOverhead(count: number) {
  const h = nsHistogram();
  const noop = (_p: string, _i: number) => {};
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    noop('', i);
    const t1 = performance.now();
    h.recordValue(Math.max(1, Math.round((t1 - t0) * 1e6)));
  }
  return {
    name: 'clock overhead (empty callback)',
    cb_p50_us: us(h.getValueAtPercentile(50)),
    cb_p99_us: us(h.getValueAtPercentile(99)),
    cb_p999_us: us(h.getValueAtPercentile(99.9)),
    cb_max_us: us(h.maxValue),
  };
}

const quotes = await stream();
// Warm both paths (JIT) on a short run before measuring.
await runDesign({ name: 'warmup' }, quotes, Math.ceil(count / 4));
await runDesign({ name: 'warmup', scheduler: INLINE }, quotes, Math.ceil(count / 4));
const overhead = clockOverhead(count);
const designs: Design[] = [
  { name: 'enqueue-only (ring + worker turns)' },
  { name: 'inline parse on the callback', scheduler: INLINE },
  { name: 'enqueue-only, WAL record(object)', recorder: 'wal-object' },
  { name: 'enqueue-only, WAL discarded', recorder: 'discard' },
  { name: 'enqueue-only, WAL = build payload only', recorder: 'build' },
  { name: 'enqueue-only, WAL = JSON.stringify only', recorder: 'stringify' },
  ...(process.argv.includes('--no-redis') ? [] : [{ name: 'enqueue-only + Redis streams', redis: true }]),
  ...(process.argv.includes('--all') ? [{ name: 'enqueue-only, small batches', batch: 32 }] : []),
];
type Row = Awaited<ReturnType<typeof runDesign>>;
// Every design once per round, rounds interleaved: the machine is shared, so a design's rounds and the
// designs it is compared with see the same minutes. Ratios are medians of per-round ratios.
const byRound: Row[][] = [];
for (let round = 0; round < rounds; round++) {
  const results: Row[] = [];
  for (const design of designs) results.push(await runDesign(design, quotes, count));
  byRound.push(results);
}
const extra = process.argv.includes('--all') ? [await offloadRow(quotes, count)] : [];
await redisServer?.stop();
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
/** Per design: the round with the median per_core_sec, plus the spread over rounds. */
const rows = designs.map((_, d) => {
  const mine = byRound.map((r) => r[d] as Row);
  const sorted = [...mine].sort((x, y) => x.per_core_sec - y.per_core_sec);
  const mid = sorted[(sorted.length - 1) >> 1] as Row;
  return {
    ...mid,
    per_core_sec: Math.round(median(mine.map((r) => r.per_core_sec))),
    per_core_min: (sorted[0] as Row).per_core_sec,
    per_core_max: (sorted.at(-1) as Row).per_core_sec,
    main_us_per_quote: Number(median(mine.map((r) => r.main_us_per_quote)).toFixed(2)),
  };
});
const at = (name: string) => designs.findIndex((d) => d.name === name);
const WAL = at('enqueue-only (ring + worker turns)');
const INLINE_ROW = at('inline parse on the callback');
const OBJECT = at('enqueue-only, WAL record(object)');
const NO_WAL = at('enqueue-only, WAL discarded');
const BUILD = at('enqueue-only, WAL = build payload only');
const STRINGIFY = at('enqueue-only, WAL = JSON.stringify only');
/** CPU µs per quote of design `d` in round `r`. */
const cpuUs = (r: Row[], d: number) => 1e6 / (r[d] as Row).per_core_sec;
const perRound = (f: (r: Row[]) => number) => ratio(median(byRound.map(f)), 1);
const goals = { callback_p99_us: 10, per_core_sec: 300_000 };
const enqueueOnly = rows[WAL] as (typeof rows)[number];
const noWal = rows[NO_WAL] as (typeof rows)[number];
report('quotes', [...rows, ...extra, overhead], {
  quotes: count,
  rounds,
  chunk,
  batch,
  cores: (await import('node:os')).availableParallelism(),
  loadavg_1m_start: loadStart,
  loadavg_1m_end: Number((await import('node:os')).loadavg()[0]?.toFixed(2)),
  goals,
  met: {
    callback_p99: enqueueOnly.cb_p99_us <= goals.callback_p99_us,
    per_core_with_wal: enqueueOnly.per_core_sec >= goals.per_core_sec,
    per_core_without_wal: noWal.per_core_sec >= goals.per_core_sec,
  },
  callback_p99_ratio_inline_over_enqueue: perRound(
    (r) => (r[INLINE_ROW] as Row).cb_p99_us / (r[WAL] as Row).cb_p99_us,
  ),
  per_core_ratio_enqueue_over_inline: perRound(
    (r) => (r[WAL] as Row).per_core_sec / (r[INLINE_ROW] as Row).per_core_sec,
  ),
  wal_share_of_cpu: perRound((r) => (cpuUs(r, WAL) - cpuUs(r, NO_WAL)) / cpuUs(r, WAL)),
  per_core_ratio_json_over_object_wal: perRound(
    (r) => (r[WAL] as Row).per_core_sec / (r[OBJECT] as Row).per_core_sec,
  ),
  wal_cost_ratio_json_over_object: perRound(
    (r) => (cpuUs(r, WAL) - cpuUs(r, NO_WAL)) / (cpuUs(r, OBJECT) - cpuUs(r, NO_WAL)),
  ),
  build_share_of_wal: perRound(
    (r) => (cpuUs(r, BUILD) - cpuUs(r, NO_WAL)) / (cpuUs(r, WAL) - cpuUs(r, NO_WAL)),
  ),
  stringify_cost_over_build_cost: perRound(
    (r) => (cpuUs(r, STRINGIFY) - cpuUs(r, NO_WAL)) / (cpuUs(r, BUILD) - cpuUs(r, NO_WAL)),
  ),
  stringified_bytes: stringified,
});
process.exit(0);
