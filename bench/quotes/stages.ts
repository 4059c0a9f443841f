/**
 * Where a quote's CPU time goes, stage by stage, on the benchmark's quote stream (same process, stages
 * interleaved in rounds so machine noise hits them alike). ns per quote of process CPU time, and each
 * stage as a multiple of JSON.parse of the same payload (the ratio is what survives a noisy machine):
 *
 * - `JSON.parse`: the parse alone, no validation (the floor of any JSON.parse-based validator).
 * - `validate (scanner)`: QuoteValidator.validate, what the quote workers run (the byte scanner).
 * - `validate (reference)`: the JSON.parse + schema-table path, which decides whatever the scanner hands over.
 * - `JSON.stringify(normalized)`: what the WAL's record(topic, object) does before its own encoding.
 * - `WalWriter.record`: the whole WAL append from the object (stringify, escaping, CRC, buffering) and
 *   its share of the writes (each WAL stage ends with flush() inside its measurement): the path before
 *   JsonPayload.
 * - `buildQuoteJson`: building the quote's JsonPayload (what the workers do instead of stringify).
 * - `build + WalWriter.recordJson`: the workers' WAL append now (build, native copy, CRC, buffering).
 *
 *   npx tsx bench/quotes/stages.ts [--count=100000]
 */
import { loadavg } from 'node:os';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { FeedSimulator } from '../../src/quotes/feed-sim.js';
import type { NormalizedQuote } from '../../src/quotes/quote-schema-v1.js';
import { buildQuoteJson } from '../../src/quotes/quote-json.js';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import { JsonPayload } from '../../src/wal/json-payload.js';
import { walSection } from '../../src/wal/config.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { removeTempDir, tempDir } from '../../test/harness/process.js';
import { argInt, report } from '../lib/report.js';

const count = argInt('count', 100_000);
const SYMBOLS = ['2330', '2317', '2454', '2303', '2882', '0050', '2412', '1301', 'TXFL6', 'MXFL6'];
const sim = new FeedSimulator({ seed: 1 });
await sim.subscribe(SYMBOLS, ['tick', 'bidask']);
const quotes = sim.generate(40_000);
const validator = new QuoteValidator({
  maxPayloadBytes: 8_192,
  acceptVersions: [],
  acceptUnknownFields: false,
});
const normalized = quotes.map((q, i) => {
  const v = validator.validate(q.payload, q.topic, '1764000000000000000', i);
  if (!v.ok) throw new Error(`simulator quote rejected: ${v.reason}`);
  return v.quote;
});
const dir = tempDir('bench-quote-stages');
const logger = createLogger({ level: 'warn', processId: 'bench' });
// A buffer large enough that the WAL never refuses while the stage loop holds the event loop.
const writer = await WalWriter.open(
  walSection.parse({ dir, disk: { enabled: false }, maxBufferedBytes: 1 << 30 }),
  {
    producerId: 'bench',
    logger,
    registry: new Registry(),
  },
);

const json = new JsonPayload();
const at = (i: number) => quotes[i % quotes.length] as (typeof quotes)[number];
const norm = (i: number) => normalized[i % normalized.length] as NormalizedQuote;
const stages: [string, (i: number) => unknown][] = [
  ['JSON.parse', (i) => JSON.parse(at(i).payload)],
  ['validate (scanner)', (i) => validator.validate(at(i).payload, at(i).topic, '1', i)],
  ['validate (reference)', (i) => validator.reference(at(i).payload, at(i).topic, '1', i)],
  ['JSON.stringify(normalized)', (i) => JSON.stringify(norm(i))],
  [
    'WalWriter.record',
    (i) => writer.record(at(i).topic === 'tick' ? 'market.tick' : 'market.bidask', norm(i)),
  ],
  ['buildQuoteJson', (i) => buildQuoteJson(json, norm(i)).size],
  [
    'build + WalWriter.recordJson',
    (i) =>
      writer.recordJson(
        at(i).topic === 'tick' ? 'market.tick' : 'market.bidask',
        buildQuoteJson(json, norm(i)),
      ),
  ],
];
const cpuNs = new Map<string, number>();
const rounds = 10;
const perRound = Math.ceil(count / rounds);
let sink = 0;
for (let round = -2; round < rounds; round++) {
  for (const [name, stage] of stages) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < perRound; i++) if (stage(i + (round + 2) * perRound) === null) sink++;
    // A WAL stage's own writes (writev on the thread pool, sha256, fsync) are part of its cost: wait for
    // them inside the measurement, or the next stage would be charged for them.
    if (name.includes('WalWriter')) await writer.flush();
    const c = process.cpuUsage(t0);
    // The first two rounds warm the JIT and are not counted.
    if (round >= 0) cpuNs.set(name, (cpuNs.get(name) ?? 0) + (c.user + c.system) * 1_000);
    // Let timers and the WAL's flush loop run between stages.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
const parseNs = (cpuNs.get('JSON.parse') as number) / (perRound * rounds);
const rows = stages.map(([name]) => {
  const ns = (cpuNs.get(name) as number) / (perRound * rounds);
  return { name, ns_per_quote: Math.round(ns), x_json_parse: Number((ns / parseNs).toFixed(2)) };
});
const bytes = quotes.reduce((n, q) => n + q.payload.length, 0) / quotes.length;
await writer.close();
removeTempDir(dir);
report('quote-stages', rows, {
  quotes: perRound * rounds,
  avg_payload_bytes: Math.round(bytes),
  slow_path: validator.slowPath,
  loadavg_1m: Number(loadavg()[0]?.toFixed(2)),
  sink,
});
process.exit(0);
