/**
 * WAL write throughput: events/s and MB/s for ~100-byte events under each fsync policy, side by side
 * with raw fs.write loops of the same bytes to the same disk, measured in the same run.
 *
 *   npx tsx bench/wal/run.ts [--events 1000000] [--repeat 3] [--dir /path/on/the/wal/disk]
 *
 * Rows:
 * - `encode only`: the writer's per-record work (JSON, timestamp, escaping, CRC) into buffers, no I/O.
 * - `raw write 1MiB`: the pre-encoded bytes written with fs.writeSync in 1 MiB pieces — the ceiling.
 * - `raw write 1MiB + fdatasync`: the same with fdatasync after every piece (ceiling for `batch`).
 * - `raw write per event`: one fs.writeSync per event (what a recorder without batching would do).
 * - `wal fsync=<policy>`: WalWriter.record() for every event, then flush(); includes the final fsync.
 * - `wal fsync=interval, JsonPayload`: the same events built with a JsonPayload and recorded with
 *   recordJson() (no JSON.stringify, no escaping pass): what a caller that builds its payloads gets.
 * - `split: stringify | worker`: an experiment, not the WalWriter: the event loop only stringifies and
 *   copies each event's JSON into a shared ring, a worker thread encodes, hashes and writes with an
 *   interval fdatasync (split-worker.ts). The main thread's own time is printed after the table.
 *
 * Every case runs once per round, rounds interleaved (the machine and disk are shared). Reported per case:
 * the best and the median events/s over the rounds, CPU µs per event (process CPU time, all threads:
 * on a loaded machine it moves less than wall time), and the ratios to the raw rows as the median of
 * the per-round ratios (each WAL run against the raw run of the same round). The 1-minute load average
 * is printed at the start and the end.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { systemClock } from '../../src/clock.js';
import { isGatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { walSection } from '../../src/wal/config.js';
import { JsonPayload } from '../../src/wal/json-payload.js';
import { LineEncoder } from '../../src/wal/line-encoder.js';
import { RecordClock } from '../../src/wal/record-clock.js';
import { WAL_TOPICS, type WalTopic } from '../../src/wal/recorder.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { CTL_DONE, CTL_HEAD, CTL_TAIL, RING_WRAP } from './split-ring.js';
import { median } from '../lib/report.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '3' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const EVENTS = Number(values.events);
/** Each case runs this many times, interleaved, and its best run is reported: the disk is shared. */
const REPEAT = Number(values.repeat);
const ROOT = mkdtempSync(join(values.dir as string, 'hft-bench-wal-'));
const TOPICS: WalTopic[] = ['gateway.intent', 'gateway.decision', 'gateway.fill', 'market.tick'];

/** A ~100-byte event (its JSON is 96–100 bytes). */
function event(i: number) {
  return {
    k: 'fill',
    oid: `ord-${100_000_000 + i}`,
    sym: 'AAPL',
    px: 1_234_500 + (i % 100),
    q: 100,
    side: 'B',
    v: 1,
  };
}

const K = {
  k: JsonPayload.prepareKey('k'),
  oid: JsonPayload.prepareKey('oid'),
  sym: JsonPayload.prepareKey('sym'),
  px: JsonPayload.prepareKey('px'),
  q: JsonPayload.prepareKey('q'),
  side: JsonPayload.prepareKey('side'),
  v: JsonPayload.prepareKey('v'),
};

/** The same event as {@link event}, built as a JsonPayload (byte-identical record). */
function eventPayload(json: JsonPayload, i: number): JsonPayload {
  return json
    .reset()
    .beginObject()
    .key(K.k)
    .text('fill')
    .key(K.oid)
    .text(`ord-${100_000_000 + i}`)
    .key(K.sym)
    .text('AAPL')
    .key(K.px)
    .int(1_234_500 + (i % 100))
    .key(K.q)
    .int(100)
    .key(K.side)
    .text('B')
    .key(K.v)
    .int(1)
    .endObject();
}

interface Row {
  name: string;
  round: number;
  events: number;
  bytes: number;
  seconds: number;
  /** Process CPU time (user + system, all threads) during the case. */
  cpuSeconds: number;
  /** record() calls refused with GW_ERR_WAL_QUEUE_FULL (the driver then yields and retries). */
  queueFull?: number;
}
const rows: Row[] = [];

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/** The bytes the WAL would write, kept in 1 MiB chunks for the raw rows (not timed). */
function encodeAll(): { chunks: Buffer[]; bytes: number } {
  const encoder = new LineEncoder('gw-bench', WAL_TOPICS);
  const clock = new RecordClock(systemClock);
  const topicIndex = TOPICS.map((t) => WAL_TOPICS.indexOf(t));
  const chunks: Buffer[] = [];
  let chunk = Buffer.allocUnsafe(1 << 20);
  let off = 0;
  let bytes = 0;
  for (let i = 0; i < EVENTS; i++) {
    const topic = topicIndex[i & 3] as number;
    const json = JSON.stringify(event(i));
    if (off + encoder.maxBytes(topic, json.length) > chunk.length) {
      chunks.push(chunk.subarray(0, off));
      chunk = Buffer.allocUnsafe(1 << 20);
      off = 0;
    }
    clock.sample();
    const n = encoder.write(chunk, off, i + 1, clock.sec, clock.nsec, topic, json);
    off += n;
    bytes += n;
  }
  chunks.push(chunk.subarray(0, off));
  return { chunks, bytes };
}

/**
 * The writer's per-record CPU work alone (JSON.stringify, timestamp, escaping, CRC) into one reused
 * buffer, as the writer encodes into pooled chunks: no I/O, no memory growth.
 */
function encodeOnly(round: number): void {
  const encoder = new LineEncoder('gw-bench', WAL_TOPICS);
  const clock = new RecordClock(systemClock);
  const topicIndex = TOPICS.map((t) => WAL_TOPICS.indexOf(t));
  const chunk = Buffer.allocUnsafe(1 << 20);
  let off = 0;
  let bytes = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    const topic = topicIndex[i & 3] as number;
    const json = JSON.stringify(event(i));
    if (off + encoder.maxBytes(topic, json.length) > chunk.length) off = 0;
    clock.sample();
    const n = encoder.write(chunk, off, i + 1, clock.sec, clock.nsec, topic, json);
    off += n;
    bytes += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ name: 'encode only', round, events: EVENTS, bytes, seconds, cpuSeconds: cpuSince(c0) });
}

function rawWrite(name: string, round: number, pieces: Buffer[], sync: boolean): void {
  const file = join(ROOT, `${name.replace(/\W+/g, '-')}.raw`);
  const fd = openSync(file, 'wx');
  let bytes = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const piece of pieces) {
    let off = 0;
    while (off < piece.length) off += writeSync(fd, piece, off);
    bytes += piece.length;
    if (sync) fdatasyncSync(fd);
  }
  fdatasyncSync(fd);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(c0);
  closeSync(fd);
  rmSync(file);
  rows.push({ name, round, events: EVENTS, bytes, seconds, cpuSeconds });
}

function perEventPieces(chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      out.push(chunk.subarray(start, nl + 1));
      start = nl + 1;
    }
  }
  return out;
}

async function walRun(fsync: 'batch' | 'interval' | 'never', round: number, payloads = false): Promise<void> {
  const dir = join(ROOT, `${fsync}-${round}`);
  const registry = new Registry();
  const writer = await WalWriter.open(
    walSection.parse({ dir, fsync, disk: { enabled: false }, segmentMaxBytes: 256 * 1024 * 1024 }),
    { producerId: 'gw-bench', logger: createLogger({ level: 'warn', processId: 'bench' }), registry },
  );
  let queueFull = 0;
  const json = new JsonPayload(1_024);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let i = 0;
  while (i < EVENTS) {
    const end = Math.min(EVENTS, i + 4096);
    try {
      if (payloads) {
        for (; i < end; i++) writer.recordJson(TOPICS[i & 3] as WalTopic, eventPayload(json, i));
      } else {
        for (; i < end; i++) writer.record(TOPICS[i & 3] as WalTopic, event(i));
      }
    } catch (err) {
      if (!isGatewayError(err, 'GW_ERR_WAL_QUEUE_FULL')) throw err;
      queueFull++;
    }
    // Yield so the flush loop runs, as a real event loop would between callbacks.
    await new Promise((r) => setImmediate(r));
  }
  await writer.flush();
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(c0);
  await writer.close();
  const metrics = await registry.getMetricsAsJSON();
  const written = metrics.find((m) => m.name === 'hft_wal_bytes_total')?.values ?? [];
  const bytes = written.reduce((n, v) => n + v.value, 0);
  const name = `wal fsync=${fsync}${payloads ? ', JsonPayload' : ''}`;
  rows.push({ name, round, events: EVENTS, bytes, seconds, cpuSeconds, queueFull });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The thread-split experiment (not the WalWriter): the event loop's thread only serializes each event
 * and copies its JSON text into a shared ring; one worker thread (split-worker.ts) encodes the lines
 * (escaping, digits, CRC), hashes and writes them in 1 MiB pieces with fdatasync every 50 ms. No
 * acknowledgements, seals or recovery: it measures what the split could gain at best on this machine.
 */
async function splitRun(round: number): Promise<void> {
  const RING = 16 << 20;
  const ring = new SharedArrayBuffer(RING);
  const control = new SharedArrayBuffer(16);
  const bytes = Buffer.from(ring);
  const view = new DataView(ring);
  const ctl = new Int32Array(control);
  const file = join(ROOT, `split-${round}.wal`);
  const entry = new URL('./split-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true, workerData: { ring, control, file } },
  );
  await new Promise((resolve) => worker.once('online', resolve));
  const result = new Promise<{ records: number; bytes: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const topicIndex = TOPICS.map((t) => WAL_TOPICS.indexOf(t));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let head = 0;
  let waits = 0;
  let waitedMs = 0;
  for (let i = 0; i < EVENTS; i++) {
    const json = JSON.stringify(event(i));
    const need = 8 + ((json.length * 3 + 3) & ~3);
    for (;;) {
      const tail = Atomics.load(ctl, CTL_TAIL);
      if (head >= tail) {
        if (RING - head >= need + 4) break;
        if (tail > need) {
          view.setUint32(head, RING_WRAP, true);
          head = 0;
          break;
        }
      } else if (tail - head > need) break;
      // Ring full: publish what is there and wait for the worker.
      Atomics.store(ctl, CTL_HEAD, head);
      Atomics.notify(ctl, CTL_HEAD);
      const w0 = performance.now();
      Atomics.wait(ctl, CTL_TAIL, tail, 1);
      waitedMs += performance.now() - w0;
      waits++;
    }
    const len = bytes.write(json, head + 8, 'utf8');
    view.setUint32(head, len, true);
    view.setUint32(head + 4, topicIndex[i & 3] as number, true);
    head += 8 + ((len + 3) & ~3);
    if ((i & 63) === 63) {
      Atomics.store(ctl, CTL_HEAD, head);
      Atomics.notify(ctl, CTL_HEAD);
    }
  }
  Atomics.store(ctl, CTL_HEAD, head);
  Atomics.store(ctl, CTL_DONE, 1);
  Atomics.notify(ctl, CTL_HEAD);
  // The main thread's own work: its wall time minus the time it sat waiting for ring space.
  const mainSeconds = (performance.now() - t0 - waitedMs) / 1000;
  const done = await result;
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(c0);
  await worker.terminate();
  rmSync(file, { force: true });
  if (done.records !== EVENTS) throw new Error(`split worker wrote ${done.records} of ${EVENTS}`);
  rows.push({
    name: 'split: stringify | worker',
    round,
    events: EVENTS,
    bytes: done.bytes,
    seconds,
    cpuSeconds,
  });
  splitMain.push({ mainSeconds, waits });
}
const splitMain: { mainSeconds: number; waits: number }[] = [];

/** Median over rounds of (case MB/s ÷ baseline MB/s in the same round). */
function medianRatio(name: string, baseline: string): number {
  const ratios: number[] = [];
  for (const r of rows.filter((x) => x.name === name)) {
    const b = rows.find((x) => x.name === baseline && x.round === r.round);
    if (b) ratios.push(r.bytes / r.seconds / (b.bytes / b.seconds));
  }
  return median(ratios);
}

let encodedBytes = 0;

async function main(): Promise<void> {
  const loadStart = loadavg()[0] as number;
  const encoded = encodeAll();
  encodedBytes = encoded.bytes;
  const perEvent = perEventPieces(encoded.chunks);
  for (let round = 0; round < REPEAT; round++) {
    encodeOnly(round);
    rawWrite('raw write 1MiB', round, encoded.chunks, false);
    rawWrite('raw write 1MiB + fdatasync', round, encoded.chunks, true);
    for (const policy of ['interval', 'batch', 'never'] as const) await walRun(policy, round);
    await walRun('interval', round, true);
    await splitRun(round);
    rawWrite('raw write per event', round, perEvent, false);
  }
  rmSync(ROOT, { recursive: true, force: true });
  const loadEnd = loadavg()[0] as number;

  const names = [...new Set(rows.map((r) => r.name))];
  const col = (text: string, w = 11) => text.padStart(w);
  console.log(
    `WAL bench: ${EVENTS} events of ~${Math.round(encodedBytes / EVENTS)} bytes on disk each, dir ${values.dir}, ${REPEAT} interleaved rounds, load average (1 min) ${loadStart.toFixed(2)} at start, ${loadEnd.toFixed(2)} at end`,
  );
  console.log(
    `${'case'.padEnd(34)}${col('best Mev/s')}${col('med Mev/s')}${col('best MB/s')}${col('CPU µs/ev')}${col('vs raw 1MiB', 13)}${col('vs raw/event', 13)}`,
  );
  const summary: Record<string, unknown> = {
    bench: 'wal',
    events: EVENTS,
    rounds: REPEAT,
    bytes_per_event: Number((encodedBytes / EVENTS).toFixed(1)),
    loadavg_1m_start: Number(loadStart.toFixed(2)),
    loadavg_1m_end: Number(loadEnd.toFixed(2)),
  };
  for (const name of names) {
    const mine = rows.filter((r) => r.name === name);
    const rates = mine.map((r) => r.events / r.seconds);
    const best = Math.max(...rates);
    const bestRow = mine[rates.indexOf(best)] as Row;
    const cpuPerEvent = median(mine.map((r) => (r.cpuSeconds / r.events) * 1e6));
    const vsRaw = medianRatio(name, 'raw write 1MiB');
    const vsPerEvent = medianRatio(name, 'raw write per event');
    const queueFull = mine.reduce((n, r) => n + (r.queueFull ?? 0), 0);
    console.log(
      `${name.padEnd(34)}${col((best / 1e6).toFixed(3))}${col((median(rates) / 1e6).toFixed(3))}${col((bestRow.bytes / bestRow.seconds / 1e6).toFixed(1))}${col(cpuPerEvent.toFixed(2))}${col(vsRaw.toFixed(3), 13)}${col(vsPerEvent.toFixed(3), 13)}`,
    );
    summary[name.replace(/\W+/g, '_')] = {
      best_events_per_s: Math.round(best),
      median_events_per_s: Math.round(median(rates)),
      best_mb_per_s: Number((bestRow.bytes / bestRow.seconds / 1e6).toFixed(1)),
      cpu_us_per_event: Number(cpuPerEvent.toFixed(3)),
      ratio_to_raw_1mib: Number(vsRaw.toFixed(3)),
      ratio_to_raw_per_event: Number(vsPerEvent.toFixed(3)),
      ...(queueFull ? { queue_full: queueFull } : {}),
    };
  }
  if (splitMain.length > 0) {
    const m = median(splitMain.map((x) => (x.mainSeconds * 1e6) / EVENTS));
    console.log(
      `split experiment: the main thread's hand-over (stringify + copy into the ring, waits for ring space excluded) ${m.toFixed(2)} µs/event (wall, median of rounds); ring-full waits per round ${splitMain.map((x) => x.waits).join('/')}`,
    );
    summary.split_main_us_per_event = Number(m.toFixed(3));
  }
  console.log(JSON.stringify(summary));
}

await main();
