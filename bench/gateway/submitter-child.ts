/**
 * A strategy worker under benchmark, in its own OS process: submits intents through IntentClient and
 * measures submit→decision latency. Closed loop (`concurrency` submits in flight) or open loop paced at
 * `rate`/s (latency from each intent's scheduled send time, so a stall is not hidden by coordinated
 * omission). Warms up first (JIT, connections, script cache), then prints one JSON line: counts, wall-clock
 * start/end (ms) so the parent can add several submitters up, and the latency histogram (hdr, base64).
 *   argv: <json {redisUrl, keyPrefix, channel, mode, count, concurrency, rate, warmup, tag, traceFile?}>
 * With traceFile, the measured intents' stage marks (src/channel/stage-trace.ts) are appended there.
 */
import { readFileSync } from 'node:fs';
import * as hdr from 'hdr-histogram-js';
import { IntentClient } from '../../src/channel/intent-client.js';
import { dumpStageTrace, enableStageTrace } from '../../src/channel/stage-trace.js';
import type { Config } from '../../src/config/schema.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { isGatewayError } from '../../src/errors.js';
import { newIntent } from '../../test/fixtures/intents.js';
import { latencyHistogram } from '../lib/report.js';

interface Args {
  redisUrl: string;
  keyPrefix: string;
  channel: Config['channel'];
  mode: 'closed' | 'paced';
  count: number;
  concurrency: number;
  rate: number;
  warmup: number;
  tag: string;
  traceFile?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
let serial = 0;
function envelopes(n: number): IntentEnvelope[] {
  return Array.from({ length: n }, () => {
    const i = serial++;
    return IntentClient.envelope(
      newIntent(i, {
        intent_id: `${args.tag}-${i}`,
        qty: 1,
        price: 1_000_000,
        symbol: `B${i % 50}`,
        strategy_id: `strat-${i % 8}`,
        ttl_ms: 120_000,
      }),
    );
  });
}

const client = await IntentClient.connect({
  redisUrl: args.redisUrl,
  keyPrefix: args.keyPrefix,
  channel: args.channel,
});
/** µs this process's main thread waited for a CPU while runnable (/proc/self/schedstat, Linux). */
function runqueueWaitUs(): number {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]) / 1_000;
  } catch {
    return 0;
  }
}
let rejected = 0;
let shed = 0;
const submit = (batch: IntentEnvelope[]) => async (i: number) => {
  try {
    const d = await client.submit(batch[i] as IntentEnvelope);
    if (d.status !== 'ACCEPTED') rejected++;
  } catch (err) {
    // The client's bounded in-flight window is full: the gateway is behind the offered load.
    if (!isGatewayError(err, 'GW_ERR_INFLIGHT_FULL')) throw err;
    shed++;
  }
};

async function closedLoop(n: number, op: (i: number) => Promise<void>, histogram?: hdr.Histogram) {
  let next = 0;
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        histogram?.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1_000)));
      }
    }),
  );
}

async function openLoop(
  n: number,
  perSec: number,
  op: (i: number) => Promise<void>,
  histogram: hdr.Histogram,
) {
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let sent = 0;
  while (sent < n) {
    const due = Math.min(n, Math.floor(((performance.now() - started) / 1_000) * perSec) + 1);
    for (; sent < due; sent++) {
      const scheduled = started + (sent / perSec) * 1_000;
      pending.push(
        op(sent).then(() => {
          histogram.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1_000)));
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
}

if (args.warmup > 0) await closedLoop(args.warmup, submit(envelopes(args.warmup)));
rejected = 0;
shed = 0;
const batch = envelopes(args.count);
const histogram = latencyHistogram();
if (args.traceFile) enableStageTrace();
const startMs = Date.now();
const cpu0 = process.cpuUsage();
const wait0 = runqueueWaitUs();
if (args.mode === 'closed') await closedLoop(args.count, submit(batch), histogram);
else await openLoop(args.count, args.rate, submit(batch), histogram);
const cpu = process.cpuUsage(cpu0);
const waitUs = runqueueWaitUs() - wait0;
const endMs = Date.now();
await client.close();
if (args.traceFile) dumpStageTrace(args.traceFile);
process.stdout.write(
  `${JSON.stringify({
    tag: args.tag,
    count: args.count,
    startMs,
    endMs,
    rejected,
    shed,
    cpuUs: cpu.user + cpu.system,
    waitUs,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
  })}\n`,
);
process.exit(0);
