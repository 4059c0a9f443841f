/**
 * Channel benchmark: submit→decision round trips through the intent channel (IntentClient → Redis stream
 * → IntentConsumer with a trivial accept-all handler → reply stream), side by side with BullMQ carrying
 * the same payloads on the same Redis (Queue.add + Worker, round trip awaited with
 * job.waitUntilFinished). Same process, same concurrency, same number of intents.
 *
 *   npx tsx bench/channel/run.ts [--count=20000] [--concurrency=256]
 */
import { Queue, QueueEvents, Worker } from 'bullmq';
import { IntentClient } from '../../src/channel/intent-client.js';
import { startConsumer, testChannel } from '../../test/channel/consumer-harness.js';
import { acceptedDecision, newIntent } from '../../test/fixtures/intents.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { argInt, latencyHistogram, report } from '../lib/report.js';

const count = argInt('count', 20_000);
const concurrency = argInt('concurrency', 256);

async function drive(submit: (i: number) => Promise<unknown>) {
  const histogram = latencyHistogram();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await submit(i);
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1_000)));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1_000;
  return {
    perSec: Math.round(count / seconds),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    max_us: histogram.maxValue,
  };
}

async function benchChannel(url: string) {
  const channel = testChannel({ inFlightMax: concurrency, attemptTimeoutMs: 30_000, readCount: 512 });
  const consumer = await startConsumer(url, { channel });
  const client = await IntentClient.connect({ redisUrl: url, keyPrefix: '{hft}', channel });
  const envelopes = Array.from({ length: count }, (_, i) => IntentClient.envelope(newIntent(i)));
  const result = await drive((i) => client.submit(envelopes[i] as (typeof envelopes)[number]));
  await client.close();
  await consumer.close();
  return result;
}

async function benchBullmq(url: string) {
  const { port } = new URL(url);
  const opts = { connection: { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null } };
  const queue = new Queue('bench-intents', opts);
  const events = new QueueEvents('bench-intents', opts);
  await events.waitUntilReady();
  const worker = new Worker('bench-intents', async (job) => acceptedDecision(job.data), {
    ...opts,
    concurrency,
  });
  await worker.waitUntilReady();
  const envelopes = Array.from({ length: count }, (_, i) => IntentClient.envelope(newIntent(count + i)));
  const result = await drive(async (i) => {
    const envelope = envelopes[i] as (typeof envelopes)[number];
    const job = await queue.add('intent', envelope, { jobId: envelope.idempotency_key });
    return job.waitUntilFinished(events);
  });
  await worker.close();
  await events.close();
  await queue.close();
  return result;
}

const server = await RedisServer.start({ aof: false });
try {
  const channel = await benchChannel(server.url);
  const bullmq = await benchBullmq(server.url);
  const ratio = channel.perSec / bullmq.perSec;
  report(
    'channel',
    [
      { name: 'intent channel (streams)', ...channel },
      { name: 'bullmq Queue.add+Worker', ...bullmq },
    ],
    { count, concurrency, throughput_ratio: Number(ratio.toFixed(2)), goal_ratio: 3 },
  );
  console.log(`throughput ratio channel/bullmq: ${ratio.toFixed(2)}x (goal >= 3x)`);
} finally {
  await server.stop();
}
process.exit(0);
