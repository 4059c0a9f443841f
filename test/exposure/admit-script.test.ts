import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import { ExposureReader } from '../../src/exposure/exposure-reader.js';
import { type AdmitRequest, GatewayStore } from '../../src/gateway/gateway-store.js';
import { GatewayScriptCode as Code } from '../../src/gateway/script-codes.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { newIntent } from '../fixtures/intents.js';
import { RedisServer } from '../harness/redis-server.js';

const keys = new Keyspace('{hft}');
let server: RedisServer;
let redis: Redis;
let store: GatewayStore;
let epoch: number;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await connectRedis({ url: server.url, name: 'admit-test' });
  const scripts = new Scripts();
  scripts.register(redis);
  store = new GatewayStore(redis, scripts, keys, 60_000);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  epoch = await redis.incr(keys.epoch());
});

const BIG = { symbol: 1e15, strategy: 1e15, account: 1e15 };

function request(input: IntentInput, over: Partial<AdmitRequest> = {}): AdmitRequest {
  const envelope = IntentClient.envelope(input);
  return {
    envelope,
    clientOrderId: deriveClientOrderId(envelope.idempotency_key),
    epoch,
    policyFloor: 'NORMAL',
    nowMs: Date.now(),
    deadlineMs: Date.now() + 60_000,
    limits: BIG,
    maxTrackedSymbols: 10_000,
    ...over,
  };
}

/** Every key and value the scripts may touch, for "nothing changed" assertions. */
async function snapshot(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key);
    out[key] =
      type === 'hash'
        ? await redis.hgetall(key)
        : type === 'set'
          ? (await redis.smembers(key)).sort()
          : type === 'zset'
            ? await redis.zrange(key, 0, -1, 'WITHSCORES')
            : await redis.get(key);
  }
  return out;
}

describe('admitIntent-n through GatewayStore', () => {
  it('marks an admitted key in flight, so a twin delivery cannot dispatch it, and answers the stored decision once recorded', async () => {
    const r = request(newIntent(1));
    expect((await store.admit(r)).code).toBe(Code.ADMITTED);
    expect(await store.admit(r)).toMatchObject({ code: Code.IN_FLIGHT, detail: 'ADMITTED' });
    const decision = JSON.stringify({ schema_version: 1, status: 'ACCEPTED' });
    const recorded = await store.recordOutcome({
      clientOrderId: r.clientOrderId,
      account: 'acc-1',
      idempotencyKey: r.envelope.idempotency_key,
      epoch,
      outcome: 'DISPATCHED',
      decision,
      venueState: 'ACKED',
    });
    expect(recorded.code).toBe(Code.ADMITTED);
    expect(await store.admit(r)).toMatchObject({ code: Code.DUPLICATE, detail: decision });
    // A second recording changes nothing.
    const again = await store.recordOutcome({
      clientOrderId: r.clientOrderId,
      account: 'acc-1',
      idempotencyKey: r.envelope.idempotency_key,
      epoch,
      outcome: 'REJECTED',
      decision: 'other',
      venueState: '',
    });
    expect(again).toMatchObject({ code: Code.NOT_ADMITTED, detail: 'DISPATCHED' });
    expect(await redis.get(keys.decision(r.envelope.idempotency_key))).toBe(decision);
  });

  it('answers FENCED from all three scripts for a stale epoch and writes nothing', async () => {
    const r = request(newIntent(1));
    expect((await store.admit(r)).code).toBe(Code.ADMITTED);
    await redis.incr(keys.epoch());
    const before = await snapshot();
    expect(await store.admit(request(newIntent(2)))).toMatchObject({
      code: Code.FENCED,
      detail: String(epoch + 1),
    });
    expect(
      (
        await store.recordOutcome({
          clientOrderId: r.clientOrderId,
          account: 'acc-1',
          idempotencyKey: r.envelope.idempotency_key,
          epoch,
          outcome: 'REJECTED',
          decision: 'x',
          venueState: '',
        })
      ).code,
    ).toBe(Code.FENCED);
    expect((await store.applyExecution(r.clientOrderId, 'acc-1', epoch, 1, true, 'FILLED')).code).toBe(
      Code.FENCED,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('writes nothing when it rejects (policy, limit, capacity, unknown cancel target)', async () => {
    expect((await store.admit(request(newIntent(1, { symbol: 'A' })))).code).toBe(Code.ADMITTED);
    const before = await snapshot();
    await redis.hset(keys.policy(), 'mode', 'DEGRADED');
    const degraded = await snapshot();
    expect((await store.admit(request(newIntent(2)))).code).toBe(Code.POLICY_REDUCE_ONLY);
    expect((await store.admit(request(newIntent(2), { policyFloor: 'HALT' }))).code).toBe(Code.POLICY_HALT);
    expect(await snapshot()).toEqual(degraded);
    await redis.hdel(keys.policy(), 'mode');
    const limited = { symbol: 1, strategy: 1e15, account: 1e15 };
    expect((await store.admit(request(newIntent(3), { limits: limited }))).code).toBe(
      Code.EXPOSURE_SYMBOL_LIMIT,
    );
    expect((await store.admit(request(newIntent(4, { symbol: 'B' }), { maxTrackedSymbols: 1 }))).code).toBe(
      Code.EXPOSURE_LIMIT,
    );
    const cancel = newIntent(5, {
      kind: 'CANCEL',
      qty: 0,
      price: 0,
      target_client_order_id: 'AAAAAAAAAAAAAAAAAAAA',
    });
    expect((await store.admit(request(cancel))).code).toBe(Code.UNKNOWN_ORDER);
    expect(await snapshot()).toEqual(before);
  });

  it('applies fills by cumulative quantity, so repeated and stale reports change nothing', async () => {
    const r = request(newIntent(1, { qty: 10, price: 100 }));
    await store.admit(r);
    const fill = (cum: number, terminal = false) =>
      store.applyExecution(
        r.clientOrderId,
        'acc-1',
        epoch,
        cum,
        terminal,
        terminal ? 'CANCELED' : 'PARTIALLY_FILLED',
      );
    expect(await fill(4)).toMatchObject({ code: Code.ADMITTED, extra: 0 });
    await fill(4);
    await fill(3);
    const reader = new ExposureReader(redis, keys);
    expect((await reader.read('acc-1')).account).toMatchObject({ q: 4, fn: 400, rbq: 6, rb: 600 });
    const closed = await fill(4, true);
    expect(closed).toMatchObject({ code: Code.ADMITTED, extra: 6 });
    expect((await reader.read('acc-1')).account).toMatchObject({ q: 4, fn: 400, rbq: 0, rb: 0 });
    expect((await fill(10, true)).code).toBe(Code.NOTHING_TO_DO);
  });

  it('V-GW-EXPOSURE-LIMIT: rejects the 10,001st symbol, and admits it once a zero-balance symbol can be evicted', async () => {
    const reqs = Array.from({ length: 10_001 }, (_, i) => request(newIntent(i, { symbol: `S${i}` })));
    for (let i = 0; i < 10_000; i += 500) {
      const answers = await Promise.all(reqs.slice(i, i + 500).map((r) => store.admit(r)));
      expect(answers.every((a) => a.code === Code.ADMITTED)).toBe(true);
    }
    const last = reqs[10_000] as AdmitRequest;
    expect((await store.admit(last)).code).toBe(Code.EXPOSURE_LIMIT);
    const reader = new ExposureReader(redis, keys);
    expect((await reader.read('acc-1')).trackedSymbols).toBe(10_000);
    // Release S7 (its order was rejected): balance zero, so it is evicted first.
    const s7 = reqs[7] as AdmitRequest;
    await store.recordOutcome({
      clientOrderId: s7.clientOrderId,
      account: 'acc-1',
      idempotencyKey: s7.envelope.idempotency_key,
      epoch,
      outcome: 'REJECTED',
      decision: '{}',
      venueState: 'REJECTED',
    });
    expect((await reader.read('acc-1')).idleSymbols).toBe(1);
    expect((await store.admit(last)).code).toBe(Code.ADMITTED);
    const after = await reader.read('acc-1');
    expect(after.trackedSymbols).toBe(10_000);
    expect(after.idleSymbols).toBe(0);
    expect(after.symbols.has('S7')).toBe(false);
    expect(after.symbols.has('S10000')).toBe(true);
    expect(after.account.rbq).toBe(10_000 * 1_000);
  });

  it('keeps a symbol tracked (not idle) while two strategies net to zero on it', async () => {
    await redis.hset(keys.policy(), 'mode', 'NORMAL');
    const buy = request(newIntent(1, { strategy_id: 's1', qty: 5, price: 10 }));
    const sell = request(newIntent(2, { strategy_id: 's2', qty: 5, price: 10, side: 'SELL' }));
    await store.admit(buy);
    await store.admit(sell);
    await store.applyExecution(buy.clientOrderId, 'acc-1', epoch, 5, true, 'FILLED');
    await store.applyExecution(sell.clientOrderId, 'acc-1', epoch, 5, true, 'FILLED');
    const e = await new ExposureReader(redis, keys).read('acc-1');
    expect(e.symbols.get('2330')).toMatchObject({ q: 0, fn: 0, rbq: 0, rsq: 0 });
    expect(e.pairs.get('s1|2330')).toMatchObject({ q: 5 });
    expect(e.idleSymbols).toBe(0);
    // A third symbol at a bound of 1 cannot evict it.
    expect((await store.admit(request(newIntent(3, { symbol: 'X' }), { maxTrackedSymbols: 1 }))).code).toBe(
      Code.EXPOSURE_LIMIT,
    );
  });
});
