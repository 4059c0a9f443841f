import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import type { Config } from '../../src/config/schema.js';
import { serializeEnvelope } from '../../src/contracts/intent.js';
import { connectRedis } from '../../src/redis/connect.js';
import { newIntent } from '../fixtures/intents.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { client, gatewayConfig, startGateway } from './gateway-env.js';
import { GatewayProc } from './gateway-proc.js';

/** V-GW-IDEMPOTENCY: replaying the same keys yields exactly one order at the venue per key. */
let redis: RedisServer;
let sim: VenueSim;
let config: Readonly<Config>;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [redis, sim] = await Promise.all([RedisServer.start({ aof: true }), VenueSim.start({ fillMode: 'none' })]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), sim.stop()]);
});
beforeEach(async () => {
  const r = await connectRedis({ url: redis.url, name: 'flush' });
  await r.flushall();
  r.disconnect();
  await sim.reset();
  await sim.setFaults({ fillMode: 'none' });
  config = gatewayConfig(redis.url, sim);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function submitter(): Promise<IntentClient> {
  const c = await client(config);
  cleanups.push(() => c.close());
  return c;
}

async function expectOneOrderPerKey(coids: readonly string[]): Promise<void> {
  const orders = await sim.orders();
  const counters = await sim.counters();
  expect(orders.map((o) => o.clientOrderId).sort()).toEqual([...new Set(coids)].sort());
  expect(counters.duplicateAttempts).toBe(0);
  expect(counters.placeRequests).toBe(new Set(coids).size);
}

describe('V-GW-IDEMPOTENCY', () => {
  it('answers sequential replays of a key with the original decision and one order', async () => {
    const g = await startGateway(config);
    cleanups.push(() => g.close());
    const c = await submitter();
    const envelope = IntentClient.envelope(newIntent(1));
    const first = await c.submit(envelope);
    // Same key, new trace id and timestamp: what a strategy retry looks like on the wire.
    const retries = [];
    for (let i = 0; i < 5; i++) {
      retries.push(await c.submit(IntentClient.envelope({ ...newIntent(1), trace_id: `retry-${i}` })));
    }
    expect(retries.every((d) => JSON.stringify(d) === JSON.stringify(first))).toBe(true);
    await expectOneOrderPerKey([first.client_order_id ?? '']);
  });

  it('sends one order per key when the same keys arrive concurrently from several clients and stream entries', async () => {
    const g = await startGateway(config);
    cleanups.push(() => g.close());
    // A long ttl: on a loaded machine the default 5 s can pass before the last twin is decided.
    const envelopes = Array.from({ length: 40 }, (_, i) =>
      IntentClient.envelope(newIntent(i, { ttl_ms: 60_000 })),
    );
    // Raw twins in the stream: the consumer decides a batch in parallel, so twins race into the admit script.
    const r: Redis = await connectRedis({ url: redis.url, name: 'raw' });
    cleanups.push(async () => r.disconnect());
    for (const e of envelopes.slice(0, 10)) {
      for (let twin = 0; twin < 4; twin++) {
        await r.xadd('{hft}:stream:intents', '*', 'k', e.idempotency_key, 'r', '', 'e', serializeEnvelope(e));
      }
    }
    const clients = await Promise.all([submitter(), submitter(), submitter(), submitter()]);
    const decisions = await Promise.all(clients.flatMap((c) => envelopes.map((e) => c.submit(e))));
    const byKey = new Map<string, string>();
    for (const d of decisions) {
      const seen = byKey.get(d.idempotency_key);
      if (seen !== undefined) expect(JSON.stringify(d)).toBe(seen);
      byKey.set(d.idempotency_key, JSON.stringify(d));
    }
    expect(decisions.filter((d) => d.status !== 'ACCEPTED')).toEqual([]);
    await waitFor('stream drained', async () => (await r.xlen('{hft}:stream:intents')) === 0, {
      timeoutMs: 20_000,
    });
    await expectOneOrderPerKey(decisions.map((d) => d.client_order_id ?? ''));
  });

  it('answers replays after the gateway process is killed and restarted from the dedup window in Redis', async () => {
    const first = await GatewayProc.start(redis.url, sim);
    cleanups.push(() => first.kill());
    const c = await submitter();
    const envelopes = Array.from({ length: 20 }, (_, i) => IntentClient.envelope(newIntent(i)));
    const before = await Promise.all(envelopes.map((e) => c.submit(e)));
    await first.kill();
    const second = await GatewayProc.start(redis.url, sim);
    cleanups.push(() => second.kill());
    // A fresh client: it cannot answer from anything it remembers.
    const fresh = await submitter();
    const after = await Promise.all(envelopes.map((e) => fresh.submit(e)));
    expect(after.map((d) => JSON.stringify(d))).toEqual(before.map((d) => JSON.stringify(d)));
    await expectOneOrderPerKey(before.map((d) => d.client_order_id ?? ''));
    // Raw stream entries bypass the client's own lookup: the restarted gateway must answer them too.
    const r: Redis = await connectRedis({ url: redis.url, name: 'raw' });
    cleanups.push(async () => r.disconnect());
    for (const e of envelopes) {
      await r.xadd('{hft}:stream:intents', '*', 'k', e.idempotency_key, 'r', '', 'e', serializeEnvelope(e));
    }
    await waitFor('raw replays drained', async () => (await r.xlen('{hft}:stream:intents')) === 0);
    await expectOneOrderPerKey(before.map((d) => d.client_order_id ?? ''));
    // Answered by the admit script's dedup lookup (the gateway skips the channel's own pre-check).
    expect(await second.metrics()).toMatch(/hft_gateway_dedup_hits_total\{[^}]*kind="stored"[^}]*\} 20/);
  });
});
