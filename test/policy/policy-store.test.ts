import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { Keyspace } from '../../src/keys.js';
import { createLogger } from '../../src/log.js';
import { type PolicyConfig, policySection } from '../../src/policy/config.js';
import { PolicyMetrics } from '../../src/policy/policy-metrics.js';
import { PolicyStore } from '../../src/policy/policy-store.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';

const keys = new Keyspace('{hft}');
const logger = createLogger({ level: 'silent', processId: 'policy-test' });
let server: RedisServer;
let redis: Redis;
const stores: PolicyStore[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await connectRedis({ url: server.url, name: 'policy-test' });
  new Scripts().register(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
});
afterEach(() => {
  while (stores.length) stores.pop()?.stop();
});

function makeStore(opts: { epoch?: () => number | null; config?: Partial<PolicyConfig> } = {}) {
  const registry = new Registry();
  const metrics = new PolicyMetrics(registry);
  const store = new PolicyStore({
    redis,
    scripts: new Scripts(),
    keys,
    config: policySection.parse({ refreshMs: 20, ...opts.config }),
    logger,
    metrics,
    ...(opts.epoch ? { fencingEpoch: opts.epoch } : {}),
  });
  stores.push(store);
  return { store, registry, metrics };
}

async function transitions(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('hft_policy_transitions_total')?.get();
  const out: Record<string, number> = {};
  for (const v of metric?.values ?? [])
    out[`${v.labels.from}>${v.labels.to}:${v.labels.actor_kind}`] = v.value;
  return out;
}

describe('PolicyStore', () => {
  it('reads a missing policy hash as NORMAL and is HALT before the first read', async () => {
    const { store } = makeStore();
    expect(store.get().mode).toBe('HALT');
    expect(store.isKnown).toBe(false);
    const state = await store.start();
    expect(state.mode).toBe('NORMAL');
    expect(store.get().mode).toBe('NORMAL');
  });

  it('lets automatic trips escalate NORMAL → DEGRADED → HALT and writes all four fields', async () => {
    const { store, registry } = makeStore();
    await store.start();
    expect(await store.trip('DEGRADED', 'broker errors', 'storm-guard:gw-1')).toEqual({
      outcome: 'CHANGED',
      from: 'NORMAL',
      to: 'DEGRADED',
    });
    expect(await store.trip('HALT', 'broker down', 'storm-guard:gw-1')).toMatchObject({ outcome: 'CHANGED' });
    const hash = await redis.hgetall(keys.policy());
    expect(hash).toMatchObject({ mode: 'HALT', reason: 'broker down', actor: 'storm-guard:gw-1' });
    expect(hash.changed_ts_ns).toMatch(/^\d{19}$/);
    expect(store.get().mode).toBe('HALT');
    expect(await transitions(registry)).toEqual({
      'NORMAL>DEGRADED:auto': 1,
      'DEGRADED>HALT:auto': 1,
    });
  });

  it('logs each transition as a structured record with from, to, reason and actor', async () => {
    const lines: string[] = [];
    const sink = { write: (line: string) => lines.push(line) };
    const store = new PolicyStore({
      redis,
      scripts: new Scripts(),
      keys,
      config: policySection.parse({}),
      logger: createLogger({ level: 'info', processId: 'gw-log' }, sink),
      metrics: new PolicyMetrics(new Registry()),
    });
    await store.trip('DEGRADED', 'reject storm', 'storm-guard:gw-log');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'policy transition',
        from: 'NORMAL',
        to: 'DEGRADED',
        reason: 'reject storm',
        actor: 'storm-guard:gw-log',
        process_id: 'gw-log',
      }),
    );
  });

  it('refuses an automatic trip that would keep or lower severity', async () => {
    const { store } = makeStore();
    await store.trip('HALT', 'broker down', 'storm-guard:gw-1');
    expect(await store.trip('DEGRADED', 'storm', 'storm-guard:gw-1')).toEqual({
      outcome: 'NOT_ESCALATION',
      from: 'HALT',
      to: 'HALT',
    });
    expect(await store.trip('NORMAL', 'all good', 'storm-guard:gw-2')).toMatchObject({
      outcome: 'NOT_ESCALATION',
    });
    expect(await store.trip('HALT', 'again', 'storm-guard:gw-2')).toMatchObject({
      outcome: 'NOT_ESCALATION',
    });
    expect(await redis.hget(keys.policy(), 'mode')).toBe('HALT');
  });

  it('lets only an operator leave HALT, and records the operator as actor', async () => {
    const { store, registry } = makeStore();
    await store.trip('HALT', 'broker down', 'storm-guard:gw-1');
    const result = await store.operatorSet('NORMAL', 'venue back, checked positions', 'alice');
    expect(result).toEqual({ outcome: 'CHANGED', from: 'HALT', to: 'NORMAL' });
    expect(await redis.hgetall(keys.policy())).toMatchObject({
      mode: 'NORMAL',
      actor: 'operator:alice',
      reason: 'venue back, checked positions',
    });
    expect((await transitions(registry))['HALT>NORMAL:operator']).toBe(1);
    expect(await store.operatorSet('NORMAL', 'noop', 'alice')).toMatchObject({ outcome: 'UNCHANGED' });
  });

  it('refuses an operator name outside the alphabet and an operator actor passed to trip()', async () => {
    const { store } = makeStore();
    await expect(store.operatorSet('NORMAL', 'x', 'bad name')).rejects.toSatisfy((e) =>
      isGatewayError(e, 'GW_ERR_UNAUTHORIZED'),
    );
    await expect(store.trip('NORMAL', 'x', 'operator:mallory')).rejects.toSatisfy((e) =>
      isGatewayError(e, 'GW_ERR_INTERNAL'),
    );
    expect(await redis.exists(keys.policy())).toBe(0);
  });

  it('fences an automatic trip from a gateway whose epoch is stale, but not an operator', async () => {
    await redis.set(keys.epoch(), '7');
    const { store: zombie } = makeStore({ epoch: () => 6 });
    await expect(zombie.trip('HALT', 'my broker link is down', 'storm-guard:gw-old')).rejects.toSatisfy((e) =>
      isGatewayError(e, 'GW_ERR_FENCED'),
    );
    expect(await redis.exists(keys.policy())).toBe(0);
    const { store: leader } = makeStore({ epoch: () => 7 });
    expect(await leader.trip('HALT', 'broker down', 'storm-guard:gw-new')).toMatchObject({
      outcome: 'CHANGED',
    });
    expect(await zombie.operatorSet('NORMAL', 'resume', 'bob')).toMatchObject({ outcome: 'CHANGED' });
  });

  it('refuses an automatic trip from a process that holds no epoch yet', async () => {
    const { store } = makeStore({ epoch: () => null });
    await expect(store.trip('HALT', 'starting up without a venue', 'storm-guard:gw-new')).rejects.toSatisfy(
      (e) => isGatewayError(e, 'GW_ERR_NOT_LEADER'),
    );
    expect(await redis.exists(keys.policy())).toBe(0);
  });

  it('appends every transition to the capped history stream', async () => {
    const { store } = makeStore();
    await store.trip('DEGRADED', 'reject storm', 'storm-guard:gw-1');
    await store.operatorSet('NORMAL', 'false alarm', 'carol');
    await store.trip('DEGRADED', 'refused later? no: NORMAL→DEGRADED is an escalation', 'storm-guard:gw-1');
    const entries = await redis.xrange(keys.policyHistory(), '-', '+');
    const rows = entries.map(([, f]) =>
      Object.fromEntries(f.flatMap((_, i) => (i % 2 ? [] : [[f[i], f[i + 1]]]))),
    );
    expect(rows.map((r) => `${r.from}>${r.to}:${r.actor}`)).toEqual([
      'NORMAL>DEGRADED:storm-guard:gw-1',
      'DEGRADED>NORMAL:operator:carol',
      'NORMAL>DEGRADED:storm-guard:gw-1',
    ]);
  });

  it('picks up a change made by another process on its next refresh', async () => {
    const { store: a } = makeStore();
    const { store: b } = makeStore();
    await a.start();
    await b.start();
    await a.trip('HALT', 'broker down', 'storm-guard:gw-a');
    await b.refresh();
    expect(b.get()).toMatchObject({ mode: 'HALT', actor: 'storm-guard:gw-a', reason: 'broker down' });
  });

  it('treats an unreadable mode written by hand as HALT (fail safe)', async () => {
    await redis.hset(keys.policy(), 'mode', 'normal');
    const { store } = makeStore();
    expect((await store.start()).mode).toBe('HALT');
  });

  it('honours the Redis-level fallback HSET from the runbook', async () => {
    const { store } = makeStore();
    await store.trip('HALT', 'broker down', 'storm-guard:gw-1');
    await redis.hset(
      keys.policy(),
      'mode',
      'NORMAL',
      'reason',
      'manual',
      'actor',
      'operator:dave',
      'changed_ts_ns',
      '1',
    );
    expect((await store.refresh()).mode).toBe('NORMAL');
  });

  it('serialises racing trips and resumes: the history is a valid chain and only operators lowered', async () => {
    const racers = Array.from({ length: 6 }, () => makeStore().store);
    const calls: Promise<unknown>[] = [];
    for (let round = 0; round < 20; round++) {
      racers.forEach((store, i) => {
        if (i === 0)
          calls.push(store.operatorSet(round % 2 ? 'NORMAL' : 'DEGRADED', `round ${round}`, 'ops'));
        else calls.push(store.trip(i % 2 ? 'DEGRADED' : 'HALT', `round ${round}`, `storm-guard:gw-${i}`));
      });
    }
    await Promise.all(calls);
    const entries = await redis.xrange(keys.policyHistory(), '-', '+');
    const rows = entries.map(([, f]) =>
      Object.fromEntries(f.flatMap((_, i) => (i % 2 ? [] : [[f[i], f[i + 1]]]))),
    );
    const sev: Record<string, number> = { NORMAL: 0, DEGRADED: 1, HALT: 2 };
    let mode = 'NORMAL';
    for (const row of rows) {
      expect(row.from).toBe(mode); // each transition starts where the previous one ended
      expect(row.to).not.toBe(row.from);
      if ((sev[row.to] ?? 0) < (sev[row.from] ?? 0)) expect(row.actor).toBe('operator:ops');
      mode = row.to as string;
    }
    expect(await redis.hget(keys.policy(), 'mode')).toBe(mode);
  });

  it('keeps its cached copy fresh on the refresh interval once started', async () => {
    const { store } = makeStore({ config: { refreshMs: 20 } });
    await store.start();
    const { store: other } = makeStore();
    await other.trip('DEGRADED', 'reject storm', 'storm-guard:gw-2');
    await waitFor('refreshed copy', async () => store.get().mode === 'DEGRADED');
    expect(store.get()).toMatchObject({ actor: 'storm-guard:gw-2', reason: 'reject storm' });
  });

  it('exports the cached mode on the gauge when no StormGuard is attached', async () => {
    const { store, registry } = makeStore();
    const gauge = async () => (await registry.getSingleMetric('hft_policy_mode')?.get())?.values[0]?.value;
    expect(await gauge()).toBe(2); // unknown = HALT
    await store.start();
    expect(await gauge()).toBe(0);
    await store.trip('DEGRADED', 'x', 'storm-guard:gw-1');
    expect(await gauge()).toBe(1);
  });
});
