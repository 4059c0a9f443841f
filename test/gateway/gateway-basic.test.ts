import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
});
