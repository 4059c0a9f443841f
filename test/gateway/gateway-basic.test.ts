import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { ConfigInput } from '../../src/config/schema.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import { GatewayError, isGatewayError } from '../../src/errors.js';
import type { EventRecorder, WalTopic } from '../../src/wal/recorder.js';
import { waitFor } from '../harness/process.js';
import type { IntentClient } from '../../src/channel/intent-client.js';
import type { Config } from '../../src/config/schema.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { connectRedis } from '../../src/redis/connect.js';
import { newIntent } from '../fixtures/intents.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { type RunningGateway, client, exposureOf, gatewayConfig, startGateway } from './gateway-env.js';

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

async function gw(cfg = config): Promise<RunningGateway> {
  const g = await startGateway(cfg);
  cleanups.push(() => g.close());
  return g;
}
async function submitter(cfg = config): Promise<IntentClient> {
  const c = await client(cfg);
  cleanups.push(() => c.close());
  return c;
}

describe('gateway decision path', () => {
  it('accepts an intent, sends exactly one order with the derived client order id, and reserves its notional', async () => {
    await gw();
    const c = await submitter();
    const d = await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }));
    expect(d).toMatchObject({ status: 'ACCEPTED', reason: null });
    expect(d.client_order_id).toBe(deriveClientOrderId(d.idempotency_key));
    const orders = await sim.orders();
    expect(orders.map((o) => o.clientOrderId)).toEqual([d.client_order_id]);
    const e = await exposureOf(redis.url, 'acc-1');
    expect(e.account).toMatchObject({ rbq: 10, rb: 10_000_000, q: 0, fn: 0 });
    expect(e.symbols.get('2330')).toMatchObject({ rbq: 10, rb: 10_000_000 });
    expect(e.pairs.get('strat-a|2330')).toMatchObject({ rbq: 10, rb: 10_000_000 });
  });

  it('releases the reservation when the venue rejects the order (BROKER_REJECT)', async () => {
    await gw();
    await sim.setFaults({ rejectPerMille: 1_000 });
    const c = await submitter();
    const d = await c.submit(newIntent(1));
    expect(d).toMatchObject({ status: 'REJECTED', reason: 'BROKER_REJECT' });
    const e = await exposureOf(redis.url, 'acc-1');
    expect(e.account).toMatchObject({ rbq: 0, rb: 0, q: 0, fn: 0 });
    expect(e.idleSymbols).toBe(1);
  });

  it('moves filled lots from reserved to filled on execution reports', async () => {
    await sim.setFaults({ fillMode: 'immediate' });
    await gw();
    const c = await submitter();
    const d = await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }));
    expect(d.status).toBe('ACCEPTED');
    const e = await waitFor('fill applied', async () => {
      const x = await exposureOf(redis.url, 'acc-1');
      return x.account.q === 10 ? x : undefined;
    });
    expect(e.account).toMatchObject({ q: 10, fn: 10_000_000, rbq: 0, rb: 0 });
    expect(e.pairs.get('strat-a|2330')).toMatchObject({ q: 10, fn: 10_000_000 });
  });

  it('rejects an intent whose ttl elapsed before the decision (TTL_EXPIRED), reserving nothing', async () => {
    await gw();
    const c = await submitter();
    const old = String((BigInt(Date.now()) - 10_000n) * 1_000_000n);
    const d = await c.submit(newIntent(1, { ttl_ms: 1_000, source_ts_ns: old }));
    expect(d).toMatchObject({ status: 'REJECTED', reason: 'TTL_EXPIRED' });
    expect(await sim.orders()).toEqual([]);
    expect((await exposureOf(redis.url, 'acc-1')).trackedSymbols).toBe(0);
  });

  it('rejects REPLACE (REPLACE_NOT_SUPPORTED) and a risk breach (RISK_MAX_QTY) before touching Redis state', async () => {
    await gw(gatewayConfig(redis.url, sim, { risk: { defaults: { maxQty: 100 } } }));
    const c = await submitter();
    const placed = await c.submit(newIntent(1, { qty: 10 }));
    const replace = await c.submit(
      newIntent(2, { kind: 'REPLACE', target_client_order_id: placed.client_order_id ?? '' }),
    );
    expect(replace).toMatchObject({ status: 'REJECTED', reason: 'REPLACE_NOT_SUPPORTED' });
    const big = await c.submit(newIntent(3, { qty: 101 }));
    expect(big).toMatchObject({ status: 'REJECTED', reason: 'RISK_MAX_QTY' });
    expect((await sim.orders()).length).toBe(1);
  });

  it('rejects at the symbol, strategy and account limit and never reserves past one', async () => {
    const limits: ConfigInput = {
      exposure: {
        symbols: { LIM: 25_000_000 },
        strategies: { 'strat-small': 5_000_000 },
        accounts: { 'acc-small': 5_000_000 },
      },
    };
    await gw(gatewayConfig(redis.url, sim, limits));
    const c = await submitter();
    const lot = { qty: 10, price: 1_000_000 }; // notional 10 000 000
    const sym = [];
    for (let i = 0; i < 3; i++) sym.push(await c.submit(newIntent(i, { ...lot, symbol: 'LIM' })));
    expect(sym.map((d) => d.reason)).toEqual([null, null, 'EXPOSURE_SYMBOL_LIMIT']);
    // A SELL is checked on its own side: it reduces the BUY-side worst case, so it is admitted.
    const sell = await c.submit(newIntent(3, { ...lot, symbol: 'LIM', side: 'SELL' }));
    expect(sell.status).toBe('ACCEPTED');
    const strat = await c.submit(newIntent(4, { ...lot, strategy_id: 'strat-small' }));
    expect(strat).toMatchObject({ status: 'REJECTED', reason: 'EXPOSURE_STRATEGY_LIMIT' });
    const acct = await c.submit(newIntent(5, { ...lot, account: 'acc-small' }));
    expect(acct).toMatchObject({ status: 'REJECTED', reason: 'EXPOSURE_ACCOUNT_LIMIT' });
    const e = await exposureOf(redis.url, 'acc-1');
    expect(e.symbols.get('LIM')).toMatchObject({ rb: 20_000_000, rs: 10_000_000 });
    expect((await exposureOf(redis.url, 'acc-small')).trackedSymbols).toBe(0);
  });

  it('evicts an idle symbol at the tracked-symbol bound, and rejects EXPOSURE_LIMIT when none is idle', async () => {
    const g = await gw(gatewayConfig(redis.url, sim, { exposure: { maxTrackedSymbols: 2 } }));
    const c = await submitter();
    const a = await c.submit(newIntent(1, { symbol: 'A' }));
    await c.submit(newIntent(2, { symbol: 'B' }));
    expect(await c.submit(newIntent(3, { symbol: 'C' }))).toMatchObject({ reason: 'EXPOSURE_LIMIT' });
    const cancel = await c.submit(
      newIntent(4, { kind: 'CANCEL', qty: 0, price: 0, target_client_order_id: a.client_order_id ?? '' }),
    );
    expect(cancel.status).toBe('ACCEPTED');
    await waitFor('cancel released A', async () => (await exposureOf(redis.url, 'acc-1')).idleSymbols === 1);
    await g.gateway.executionsIdle();
    expect((await c.submit(newIntent(5, { symbol: 'C' }))).status).toBe('ACCEPTED');
    const e = await exposureOf(redis.url, 'acc-1');
    expect(e.trackedSymbols).toBe(2);
    expect([...e.symbols.keys()].sort()).toEqual(['B', 'C']);
  });

  it('rejects a cancel of an order it never journaled (UNKNOWN_ORDER)', async () => {
    await gw();
    const c = await submitter();
    const d = await c.submit(
      newIntent(1, { kind: 'CANCEL', qty: 0, price: 0, target_client_order_id: 'AAAAAAAAAAAAAAAAAAAA' }),
    );
    expect(d).toMatchObject({ status: 'REJECTED', reason: 'UNKNOWN_ORDER' });
    expect((await sim.counters()).cancelRequests).toBe(0);
  });

  it('under HALT rejects new intents (POLICY_HALT) but sends cancels and releases what they free', async () => {
    await gw();
    const c = await submitter();
    const placed = await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }));
    await setPolicy('HALT');
    expect(await c.submit(newIntent(2))).toMatchObject({ status: 'REJECTED', reason: 'POLICY_HALT' });
    const cancel = await c.submit(
      newIntent(3, {
        kind: 'CANCEL',
        qty: 0,
        price: 0,
        target_client_order_id: placed.client_order_id ?? '',
      }),
    );
    expect(cancel.status).toBe('ACCEPTED');
    expect((await sim.order(placed.client_order_id ?? ''))?.state).toBe('CANCELED');
    await waitFor(
      'reservation released',
      async () => (await exposureOf(redis.url, 'acc-1')).account.rb === 0,
    );
  });

  it('under DEGRADED admits only intents that reduce the net position (POLICY_REDUCE_ONLY otherwise)', async () => {
    await sim.setFaults({ fillMode: 'immediate' });
    await gw();
    const c = await submitter();
    expect((await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }))).status).toBe('ACCEPTED');
    await waitFor(
      'long 10',
      async () => (await exposureOf(redis.url, 'acc-1')).symbols.get('2330')?.q === 10,
    );
    await setPolicy('DEGRADED');
    const more = await c.submit(newIntent(2, { qty: 1, price: 1_000_000 }));
    expect(more).toMatchObject({ status: 'REJECTED', reason: 'POLICY_REDUCE_ONLY' });
    const flip = await c.submit(newIntent(3, { qty: 11, price: 1_000_000, side: 'SELL' }));
    expect(flip).toMatchObject({ status: 'REJECTED', reason: 'POLICY_REDUCE_ONLY' });
    const other = await c.submit(newIntent(4, { qty: 1, price: 1_000_000, side: 'SELL', symbol: 'FLAT' }));
    expect(other).toMatchObject({ status: 'REJECTED', reason: 'POLICY_REDUCE_ONLY' });
    const reduce = await c.submit(newIntent(5, { qty: 6, price: 1_000_000, side: 'SELL' }));
    expect(reduce.status).toBe('ACCEPTED');
    // 6 of 10 are now reserved to sell (filled at once here); selling 5 more would flip the position.
    await waitFor('long 4', async () => (await exposureOf(redis.url, 'acc-1')).symbols.get('2330')?.q === 4);
    const tooMuch = await c.submit(newIntent(6, { qty: 5, price: 1_000_000, side: 'SELL' }));
    expect(tooMuch.reason).toBe('POLICY_REDUCE_ONLY');
  });

  it('answers an unexpected failure on one intent with INTERNAL_ERROR, logs its trace id, and keeps deciding', async () => {
    const g = await startGateway(config, {
      risk: {
        check: (e) => {
          if (e.symbol === 'BOOM') throw new Error('risk engine bug');
          return { ok: true };
        },
      },
    });
    cleanups.push(() => g.close());
    const c = await submitter();
    const bad = await c.submit({
      ...newIntent(1, { symbol: 'BOOM' }),
      trace_id: 'trace-boom',
    } as IntentInput);
    expect(bad).toMatchObject({ status: 'REJECTED', reason: 'INTERNAL_ERROR' });
    expect(g.logs.some((l) => l.trace_id === 'trace-boom' && l.level === 'error')).toBe(true);
    expect((await c.submit(newIntent(2))).status).toBe('ACCEPTED');
  });

  it('stops dispatching and turns not-ready when a newer epoch fences it', async () => {
    const g = await gw();
    expect(g.gateway.readiness().ready).toBe(true);
    await withRedis((r) => r.incr('{hft}:epoch'));
    const c = await client(
      gatewayConfig(redis.url, sim, { channel: { maxAttempts: 1, attemptTimeoutMs: 500 } }),
    );
    cleanups.push(() => c.close());
    const outcome = await c.submit(newIntent(1)).catch((err: unknown) => err);
    expect(isGatewayError(outcome, 'GW_ERR_SUBMIT_TIMEOUT')).toBe(true);
    await waitFor('standby', async () => g.gateway.state === 'STANDBY');
    expect(g.gateway.readiness().ready).toBe(false);
    expect(await sim.orders()).toEqual([]);
    expect((await exposureOf(redis.url, 'acc-1')).trackedSymbols).toBe(0);
  });
});

/** An EventRecorder whose disk is "full": every append is refused with GW_ERR_WAL_HALTED while halted. */
class HaltableRecorder implements EventRecorder {
  halted = false;
  readonly topics: WalTopic[] = [];
  record(topic: WalTopic): number {
    if (this.halted) throw new GatewayError('GW_ERR_WAL_HALTED', 'disk pressure HALT');
    this.topics.push(topic);
    return this.topics.length;
  }
}

describe('gateway with an EventRecorder', () => {
  it('records intent, dispatch, ack and decision events, and maps GW_ERR_WAL_HALTED to a local HALT floor', async () => {
    const recorder = new HaltableRecorder();
    const g = await startGateway(config, { recorder });
    cleanups.push(() => g.close());
    const c = await submitter();
    const placed = await c.submit(newIntent(1));
    expect(placed.status).toBe('ACCEPTED');
    // The outcome script replies as it records; the decision event is written right after its answer.
    await waitFor('decision recorded', async () => recorder.topics.length === 4);
    expect(recorder.topics).toEqual([
      'gateway.intent',
      'gateway.dispatch',
      'gateway.ack',
      'gateway.decision',
    ]);
    recorder.halted = true;
    expect(await c.submit(newIntent(2))).toMatchObject({ status: 'REJECTED', reason: 'POLICY_HALT' });
    const cancel = await c.submit(
      newIntent(3, {
        kind: 'CANCEL',
        qty: 0,
        price: 0,
        target_client_order_id: placed.client_order_id ?? '',
      }),
    );
    expect(cancel.status).toBe('ACCEPTED');
    // The cancel released the reservation itself (it does not wait for the execution report).
    expect((await exposureOf(redis.url, 'acc-1')).account.rb).toBe(0);
    recorder.halted = false;
    expect((await c.submit(newIntent(4))).status).toBe('ACCEPTED');
  });
});

async function withRedis<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = await connectRedis({ url: redis.url, name: 'test' });
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function setPolicy(mode: 'NORMAL' | 'DEGRADED' | 'HALT'): Promise<void> {
  await withRedis((r) => r.hset('{hft}:policy', 'mode', mode, 'actor', 'operator:test', 'reason', 'test'));
}
