/**
 * Gateway benchmark: submit→decision through the whole decision path (IntentClient → Redis stream →
 * IntentConsumer → pipeline: ttl, risk, admit script, TcpBroker → venue-sim process, outcome script →
 * reply), side by side with the ceiling: raw EVALSHA of the admit script alone on the same Redis (through
 * ioredis, same concurrency). Three rows:
 *
 *   - admit script alone (ceiling), closed loop at --concurrency
 *   - full path, closed loop at --concurrency (sustained throughput)
 *   - full path, open loop paced at --rate intents/s for --seconds (latency at a fixed load; latency is
 *     measured from each intent's scheduled send time, so a stall is not hidden by coordinated omission)
 *
 *   npx tsx bench/gateway/run.ts [--count=20000] [--concurrency=256] [--rate=5000] [--seconds=5]
 */
import { loadavg } from 'node:os';
import { IntentClient } from '../../src/channel/intent-client.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { isGatewayError } from '../../src/errors.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { GatewayStore } from '../../src/gateway/gateway-store.js';
import { GatewayScriptCode } from '../../src/gateway/script-codes.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { startGateway } from '../../test/gateway/gateway-env.js';
import { newIntent } from '../../test/fixtures/intents.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { VenueSim } from '../../test/harness/venue-sim.js';
import { argInt, latencyHistogram, report } from '../lib/report.js';

const count = argInt('count', 20_000);
const concurrency = argInt('concurrency', 256);
const rate = argInt('rate', 5_000);
const seconds = argInt('seconds', 5);

let serial = 0;
function envelopes(n: number): IntentEnvelope[] {
  return Array.from({ length: n }, () => {
    const i = serial++;
    return IntentClient.envelope(
      newIntent(i, {
        qty: 1,
        price: 1_000_000,
        symbol: `B${i % 50}`,
        strategy_id: `strat-${i % 8}`,
        ttl_ms: 60_000,
      }),
    );
  });
}

type Row = { perSec: number; p50_us: number; p99_us: number; max_us: number; redis_cpu_us?: number };

/** Redis server CPU (user + sys) in microseconds, from INFO cpu: where the single Redis core goes. */
async function redisCpuUs(url: string): Promise<number> {
  const redis = await connectRedis({ url, name: 'bench-cpu' });
  try {
    const info = await redis.info('cpu');
    const get = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    return Math.round((get('used_cpu_user') + get('used_cpu_sys')) * 1e6);
  } finally {
    redis.disconnect();
  }
}

/** Runs a phase and adds the Redis CPU it cost per operation. */
async function withRedisCpu(url: string, n: number, phase: () => Promise<Row>): Promise<Row> {
  const before = await redisCpuUs(url);
  const row = await phase();
  return { ...row, redis_cpu_us: Math.round((await redisCpuUs(url)) - before) / n };
}

async function closedLoop(n: number, op: (i: number) => Promise<unknown>): Promise<Row> {
  const histogram = latencyHistogram();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1_000)));
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  return {
    perSec: Math.round(n / elapsed),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    max_us: histogram.maxValue,
  };
}

async function openLoop(n: number, perSec: number, op: (i: number) => Promise<unknown>): Promise<Row> {
  const histogram = latencyHistogram();
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let sent = 0;
  while (sent < n) {
    const now = performance.now();
    const due = Math.min(n, Math.floor(((now - started) / 1_000) * perSec) + 1);
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
  const elapsed = (performance.now() - started) / 1_000;
  return {
    perSec: Math.round(n / elapsed),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    max_us: histogram.maxValue,
  };
}

async function ceiling(config: Readonly<Config>): Promise<Row> {
  const redis = await connectRedis({ url: config.redis.stateUrl, name: 'bench-ceiling' });
  const scripts = new Scripts();
  scripts.register(redis);
  const keys = new Keyspace(config.redis.keyPrefix);
  const permit = await FixedEpochPermit.acquire(redis, keys);
  const store = new GatewayStore(redis, scripts, keys, config.channel.decisionTtlMs);
  const batch = envelopes(count);
  const coids = batch.map((e) => deriveClientOrderId(e.idempotency_key));
  const limits = { symbol: 1e15, strategy: 1e15, account: 1e15 };
  const row = await closedLoop(count, async (i) => {
    const answer = await store.admit({
      envelope: batch[i] as IntentEnvelope,
      clientOrderId: coids[i] as string,
      epoch: permit.epoch,
      policyFloor: 'NORMAL',
      nowMs: Date.now(),
      deadlineMs: Date.now() + 60_000,
      limits,
      maxTrackedSymbols: 10_000,
    });
    if (answer.code !== GatewayScriptCode.ADMITTED) throw new Error(`admit answered ${answer.code}`);
  });
  await redis.flushall();
  redis.disconnect();
  return row;
}

const [server, sim] = await Promise.all([
  RedisServer.start({ aof: false }),
  VenueSim.start({ fillMode: 'none' }),
]);
try {
  const config = loadConfig({
    overrides: {
      processId: 'gw-bench',
      redis: { stateUrl: server.url },
      log: { level: 'warn' },
      broker: { host: sim.host, port: sim.orderPort },
      channel: {
        inFlightMax: Math.max(concurrency, 4_096),
        attemptTimeoutMs: 30_000,
        readCount: 512,
        blockMs: 20,
      },
      risk: {
        rejectWithoutReference: false,
        throttle: {
          perStrategy: { ratePerSec: 10_000_000, burst: 10_000_000 },
          global: { ratePerSec: 10_000_000, burst: 10_000_000 },
        },
      },
      exposure: { defaults: { symbolNotional: 1e15, strategyNotional: 1e15, accountNotional: 1e15 } },
    },
  });
  const admitOnly = await withRedisCpu(server.url, count, () => ceiling(config));

  const g = await startGateway(config);
  const client = await IntentClient.connect({
    redisUrl: server.url,
    keyPrefix: config.redis.keyPrefix,
    channel: config.channel,
  });
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
  await closedLoop(2_000, submit(envelopes(2_000))); // warm-up: JIT, connections, script cache
  const saturated = await withRedisCpu(server.url, count, () => closedLoop(count, submit(envelopes(count))));
  const pacedCount = rate * seconds;
  const paced = await openLoop(pacedCount, rate, submit(envelopes(pacedCount)));
  const venue = await sim.counters();
  await client.close();
  await g.close();

  const ratio = saturated.perSec / admitOnly.perSec;
  report(
    'gateway',
    [
      { name: 'admit script alone (EVALSHA ceiling)', ...admitOnly },
      { name: `full path, closed loop c=${concurrency}`, ...saturated },
      { name: `full path, paced ${rate}/s`, ...paced },
    ],
    {
      count,
      concurrency,
      rate,
      seconds,
      ratio_to_ceiling: Number(ratio.toFixed(3)),
      rejected,
      shed_paced: shed,
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      venue_orders: venue.accepted,
      venue_duplicates: venue.duplicateAttempts,
      goal: { intents_per_sec: 20_000, p99_us_at_5k: 2_000 },
    },
  );
  if (shed > 0) console.log(`paced run shed ${shed} intents: the gateway did not keep up with ${rate}/s`);
  console.log(
    `full path / ceiling: ${(ratio * 100).toFixed(1)}% · sustained ${saturated.perSec}/s (goal 20000/s) · ` +
      `p99 at ${rate}/s ${paced.p99_us} µs (goal 2000 µs)`,
  );
} finally {
  await Promise.all([server.stop(), sim.stop()]);
}
process.exit(0);
