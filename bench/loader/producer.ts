/**
 * The replay-lag bench's input (bench/loader/run.ts spawns it as its own process, so its CPU bursts
 * never stall the bench's metric sampling): the real WalWriter recording `--rate` events/s of ~100-byte
 * events round-robin over four topics for `--seconds`, then closing (which seals the open segments).
 * Prints one JSON line: events recorded, refusals (writer queue full), seconds.
 *
 *   npx tsx bench/loader/producer.ts --dir=<wal root> [--rate=100000] [--seconds=60]
 *     [--segment-max-mb=<wal default>] [--segment-max-age-ms=<wal default>]
 */
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { walSection } from '../../src/wal/config.js';
import type { WalTopic } from '../../src/wal/recorder.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { argInt } from '../lib/report.js';

const dir = process.argv.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
if (!dir) throw new Error('--dir=<wal root> is required');
const rate = argInt('rate', 100_000);
const seconds = argInt('seconds', 60);
const segmentMaxMb = argInt('segment-max-mb', 0);
const segmentMaxAgeMs = argInt('segment-max-age-ms', 0);
const PRODUCER_ID = 'gw-lag';
const TOPICS: WalTopic[] = ['gateway.intent', 'gateway.decision', 'gateway.fill', 'market.tick'];

const config = walSection.parse({
  dir,
  disk: { enabled: false },
  ...(segmentMaxMb > 0 ? { segmentMaxBytes: segmentMaxMb * 1024 * 1024 } : {}),
  ...(segmentMaxAgeMs > 0 ? { segmentMaxAgeMs } : {}),
});
const wal = await WalWriter.open(config, {
  producerId: PRODUCER_ID,
  logger: createLogger({ level: 'warn', processId: PRODUCER_ID }),
  registry: new Registry(),
});

/** A ~100-byte event payload, as in bench/wal. */
function event(i: number) {
  return {
    k: 'fill',
    oid: `ord-${100_000_000 + i}`,
    sym: 'AAPL',
    px: 1_234_500 + (i % 100),
    q: 100,
    side: 'B',
  };
}

// Paced: every 5 ms, record what the rate owes since t0, catching up after a slow tick (at most 500 ms
// worth per tick, so a long stall turns into a lower achieved rate, which is reported, not a huge burst).
let recorded = 0;
let refused = 0;
const t0 = performance.now();
const end = t0 + seconds * 1_000;
while (performance.now() < end) {
  const due = Math.min(Math.floor(((performance.now() - t0) / 1_000) * rate), recorded + rate / 2);
  while (recorded < due) {
    try {
      wal.record(TOPICS[recorded % TOPICS.length] as WalTopic, event(recorded));
      recorded += 1;
    } catch {
      refused += 1; // the writer's queue is full: it is behind; yield and retry
      break;
    }
  }
  await new Promise((r) => setTimeout(r, 5));
}
const elapsed = (performance.now() - t0) / 1_000;
await wal.close();
console.log(
  JSON.stringify({
    recorded,
    refused,
    seconds: elapsed,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
  }),
);
