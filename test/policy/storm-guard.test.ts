import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Keyspace } from '../../src/keys.js';
import { createLogger } from '../../src/log.js';
import { type PolicyConfigInput, policySection } from '../../src/policy/config.js';
import { PolicyMetrics } from '../../src/policy/policy-metrics.js';
import { PolicyStore } from '../../src/policy/policy-store.js';
import { StormGuard } from '../../src/policy/storm-guard.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { TcpBroker } from '../../src/broker/tcp-broker.js';
import { isGatewayError } from '../../src/errors.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { ManualClock } from '../risk/risk-fixtures.js';

const keys = new Keyspace('{hft}');
const logger = createLogger({ level: 'silent', processId: 'storm-test' });
let server: RedisServer;
let admin: Redis;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  server = await RedisServer.start({ aof: true });
  admin = await connectRedis({ url: server.url, name: 'storm-admin' });
});
afterAll(async () => {
  admin.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await admin.flushall();
});
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

const BASE: PolicyConfigInput = {
  refreshMs: 10_000, // tests refresh by hand
  windowMs: 1_000,
  windowBuckets: 10,
  minSamples: 10,
  brokerErrorPerMille: 200,
  brokerSlowNs: 10_000_000,
  brokerSlowPerMille: 500,
  redisSlowNs: 5_000_000,
  redisSlowPerMille: 500,
  rejectStormPerMille: 800,
  brokerDownConsecutiveFailures: 5,
  brokerDownMs: 50,
  redisDownConsecutiveFailures: 2,
};

async function setup(config: PolicyConfigInput = {}, fencingEpoch?: () => number | null) {
  const redis = await connectRedis({ url: server.url, name: 'storm-test', commandTimeoutMs: 500 });
  const scripts = new Scripts();
  scripts.register(redis);
  const registry = new Registry();
  const metrics = new PolicyMetrics(registry);
  const clock = new ManualClock();
  const parsed = policySection.parse({ ...BASE, ...config });
  const store = new PolicyStore({
    redis,
    scripts,
    keys,
    config: parsed,
    logger,
    metrics,
    clock,
    ...(fencingEpoch ? { fencingEpoch } : {}),
  });
  await store.start();
  const guard = new StormGuard({ store, config: parsed, clock, logger, metrics, actor: 'storm-guard:gw-1' });
  cleanups.push(() => {
    guard.stop();
    store.stop();
    redis.disconnect();
  });
  const storedMode = async () => (await admin.hget(keys.policy(), 'mode')) ?? 'NORMAL';
  const gauge = async () => (await registry.getSingleMetric('hft_policy_mode')?.get())?.values[0]?.value;
  const transitions = async () => {
    const values = (await registry.getSingleMetric('hft_policy_transitions_total')?.get())?.values ?? [];
    return Object.fromEntries(
      values.map((v) => [`${v.labels.from}>${v.labels.to}:${v.labels.actor_kind}`, v.value]),
    );
  };
  return { guard, store, clock, storedMode, gauge, transitions };
}

describe('StormGuard', () => {
  it('trips DEGRADED on a broker error rate at the threshold, written to Redis with its actor', async () => {
    const { guard, clock, storedMode, gauge } = await setup();
    for (let i = 0; i < 8; i++) guard.observeBroker(true, 1_000);
    guard.observeBroker(false, 0);
    clock.advance(1);
    guard.observeBroker(false, 0); // 2 of 10 = 200 per mille
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('DEGRADED');
    expect(await admin.hget(keys.policy(), 'actor')).toBe('storm-guard:gw-1');
    expect(guard.effectiveMode()).toBe('DEGRADED');
    expect(await gauge()).toBe(1);
  });

  it('does nothing below the rate threshold or below the minimum sample count', async () => {
    const { guard, storedMode } = await setup();
    for (let i = 0; i < 9; i++) guard.observeBroker(true, 1_000);
    guard.observeBroker(false, 0); // 100 per mille
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('NORMAL');
    const fresh = await setup();
    for (let i = 0; i < 4; i++) fresh.guard.observeBroker(false, 0); // 1000 per mille, 4 < minSamples
    fresh.guard.evaluate();
    await fresh.guard.settled();
    expect(await fresh.storedMode()).toBe('NORMAL');
  });

  it('forgets observations older than the window', async () => {
    const { guard, clock, storedMode } = await setup({ brokerDownConsecutiveFailures: 1_000 });
    for (let i = 0; i < 10; i++) guard.observeBroker(false, 0);
    clock.advance(1_000);
    for (let i = 0; i < 10; i++) guard.observeBroker(true, 1_000);
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('NORMAL');
  });

  it('trips DEGRADED when too many broker calls are slow', async () => {
    const { guard, storedMode } = await setup();
    for (let i = 0; i < 10; i++) guard.observeBroker(true, i < 5 ? 10_000_000 : 1_000);
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('DEGRADED');
  });

  it('trips DEGRADED when too many state-Redis calls are slow', async () => {
    const { guard, storedMode } = await setup();
    for (let i = 0; i < 10; i++) guard.observeRedis(true, 6_000_000);
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('DEGRADED');
  });

  it('trips DEGRADED on a reject storm, not counting the policy’s own rejects nor expired intents', async () => {
    const { guard, storedMode } = await setup();
    for (let i = 0; i < 50; i++) guard.observeDecision('POLICY_HALT');
    for (let i = 0; i < 50; i++) guard.observeDecision('POLICY_REDUCE_ONLY');
    for (let i = 0; i < 50; i++) guard.observeDecision('TTL_EXPIRED');
    for (let i = 0; i < 3; i++) guard.observeDecision(null);
    for (let i = 0; i < 7; i++) guard.observeDecision('RISK_MAX_QTY'); // 700 per mille < 800
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('NORMAL');
    for (let i = 0; i < 10; i++) guard.observeDecision('EXPOSURE_SYMBOL_LIMIT'); // 17 of 20 = 850
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('DEGRADED');
  });

  it('trips HALT after consecutive broker failures, escalating past DEGRADED', async () => {
    const { guard, storedMode, transitions } = await setup();
    for (let i = 0; i < 5; i++) guard.observeBroker(false, 0);
    await guard.settled();
    expect(await storedMode()).toBe('HALT');
    expect(await admin.hget(keys.policy(), 'reason')).toMatch(/broker down/);
    expect(await transitions()).toEqual({ 'NORMAL>HALT:auto': 1 });
  });

  it('a success between failures resets the consecutive count', async () => {
    const { guard, storedMode } = await setup({ brokerErrorPerMille: 1_000, minSamples: 1_000 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) guard.observeBroker(false, 0);
      guard.observeBroker(true, 1_000);
    }
    await guard.settled();
    expect(await storedMode()).toBe('NORMAL');
  });

  it('trips HALT when the broker connection stays down for brokerDownMs', async () => {
    const { guard, storedMode } = await setup({ brokerDownMs: 100 });
    guard.observeBrokerConnection(false);
    await waitFor('HALT in Redis', async () => (await storedMode()) === 'HALT');
    await guard.settled();
    expect(await admin.hget(keys.policy(), 'reason')).toMatch(/connection lost/);
  });

  it('keeps retrying the broker-down HALT while down, so it lands once this process holds an epoch', async () => {
    let epoch: number | null = null;
    await admin.set(keys.epoch(), '4');
    const { guard, storedMode } = await setup({ brokerDownMs: 50 }, () => epoch);
    guard.observeBrokerConnection(false);
    await new Promise((resolve) => setTimeout(resolve, 200)); // several refused attempts (no epoch)
    expect(await storedMode()).toBe('NORMAL');
    epoch = 4;
    await waitFor('HALT in Redis', async () => (await storedMode()) === 'HALT');
    await guard.settled();
  });

  it('does not trip when the broker connection comes back before brokerDownMs', async () => {
    const { guard, storedMode } = await setup({ brokerDownMs: 100 });
    guard.observeBrokerConnection(false);
    guard.observeBrokerConnection(true);
    // The down timer was cleared on reconnect; waiting past brokerDownMs shows it cannot fire.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await guard.settled();
    expect(await storedMode()).toBe('NORMAL');
  });

  it('never lowers the mode: storms under HALT change nothing, and only an operator resumes', async () => {
    const { guard, store, storedMode } = await setup();
    await store.trip('HALT', 'drill', 'storm-guard:gw-9');
    for (let i = 0; i < 20; i++) guard.observeBroker(false, 0);
    guard.evaluate();
    await guard.settled();
    expect(await admin.hget(keys.policy(), 'actor')).toBe('storm-guard:gw-9');
    await store.operatorSet('NORMAL', 'drill over', 'erin');
    expect(await storedMode()).toBe('NORMAL');
    expect(guard.effectiveMode()).toBe('NORMAL');
  });

  it('holds a local HALT while the state Redis is unreachable, and lifts it when Redis answers', async () => {
    const { guard, store, gauge, transitions } = await setup();
    expect(guard.effectiveMode()).toBe('NORMAL');
    await server.kill();
    try {
      await expect(store.refresh()).rejects.toThrow(/GW_ERR_REDIS_UNAVAILABLE/);
      expect(guard.effectiveMode()).toBe('NORMAL'); // one failure is not an outage
      await expect(store.refresh()).rejects.toThrow(/GW_ERR_REDIS_UNAVAILABLE/);
      expect(guard.redisUnreachable).toBe(true);
      expect(guard.effectiveMode()).toBe('HALT');
      expect(store.get().mode).toBe('NORMAL'); // the cluster mode itself is unknown, not rewritten
      expect(await gauge()).toBe(2);
    } finally {
      await server.restart();
    }
    await waitFor('refresh succeeds again', async () => (await store.refresh()).mode === 'NORMAL');
    expect(guard.effectiveMode()).toBe('NORMAL');
    expect(await gauge()).toBe(0);
    expect(await transitions()).toEqual({ 'NORMAL>HALT:local': 1, 'HALT>NORMAL:local': 1 });
  });
});

describe('StormGuard with a real venue-sim and TcpBroker', () => {
  let sim: VenueSim;
  beforeAll(async () => {
    sim = await VenueSim.start({ fillMode: 'none' });
  });
  afterAll(async () => {
    await sim.stop();
  });
  beforeEach(async () => {
    await sim.reset();
  });

  async function wiredBroker(guard: StormGuard): Promise<TcpBroker> {
    const broker = await TcpBroker.connect(sim.brokerOptions({ requestTimeoutMs: 500 }));
    cleanups.push(() => void broker.close());
    broker.onConnectionChange((up) => guard.observeBrokerConnection(up));
    return broker;
  }

  let n = 0;
  async function place(broker: TcpBroker, guard: StormGuard): Promise<void> {
    n += 1;
    const started = process.hrtime.bigint();
    try {
      await broker.place({
        clientOrderId: deriveClientOrderId(String(n).padStart(64, 'a')),
        account: 'acc-1',
        symbol: 'AAPL',
        side: 'BUY',
        qty: 1,
        price: 1_000_000,
        tif: 'DAY',
        epoch: 1,
      });
      guard.observeBroker(true, process.hrtime.bigint() - started);
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      guard.observeBroker(false, process.hrtime.bigint() - started);
    }
  }

  it('a venue outage that lasts trips HALT, and HALT stays after the venue is back', async () => {
    const { guard, storedMode } = await setup({ brokerDownMs: 200 });
    const broker = await wiredBroker(guard);
    await sim.setFaults({ outage: true });
    await waitFor('HALT in Redis', async () => (await storedMode()) === 'HALT');
    await guard.settled();
    expect(await admin.hget(keys.policy(), 'reason')).toMatch(/connection lost/);
    await sim.setFaults({ outage: false });
    await broker.waitConnected(10_000);
    expect(await storedMode()).toBe('HALT');
  });

  it('a venue error rate trips DEGRADED; all-failing calls then trip HALT', async () => {
    const { guard, storedMode } = await setup({ brokerDownConsecutiveFailures: 15, minSamples: 20 });
    const broker = await wiredBroker(guard);
    await sim.setFaults({ errorPerMille: 400, seed: 3 });
    for (let i = 0; i < 40; i++) await place(broker, guard);
    guard.evaluate();
    await guard.settled();
    expect(await storedMode()).toBe('DEGRADED');
    await sim.setFaults({ errorPerMille: 1_000 });
    for (let i = 0; i < 15; i++) await place(broker, guard);
    await guard.settled();
    expect(await storedMode()).toBe('HALT');
  });

  it('a broker that never connected trips HALT too (the subscription reports the current state)', async () => {
    const { guard, storedMode } = await setup({ brokerDownMs: 100 });
    const broker = new TcpBroker({ ...sim.brokerOptions(), port: 1 });
    cleanups.push(() => void broker.close());
    broker.onConnectionChange((up) => guard.observeBrokerConnection(up));
    await waitFor('HALT in Redis', async () => (await storedMode()) === 'HALT');
    await guard.settled();
  });
});
