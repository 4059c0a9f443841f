import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import { ExposureReader } from '../../src/exposure/exposure-reader.js';
import { type AdmitRequest, GatewayStore } from '../../src/gateway/gateway-store.js';
import { GatewayScriptCode as Code } from '../../src/gateway/script-codes.js';
import { JOURNAL_PACKED_FIELD, journalFields } from '../../src/journal/journal-entry.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { newIntent } from '../fixtures/intents.js';
import { RedisServer } from '../harness/redis-server.js';

// Journal entries are persisted state: a gateway upgraded mid-day meets entries the previous version
// wrote (one hash field per value) in the dedup window. Each test runs the same steps twice, once on
// entries as this version writes them (immutable values packed in one field) and once on the same
// entries rewritten in the old layout, and compares every answer and the resulting state.

const keys = new Keyspace('{hft}');
let server: RedisServer;
let redis: Redis;
let store: GatewayStore;
let epoch: number;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await connectRedis({ url: server.url, name: 'journal-layout-test' });
  const scripts = new Scripts();
  scripts.register(redis);
  store = new GatewayStore(redis, scripts, keys, 60_000, { batchMax: 1 });
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  epoch = await redis.incr(keys.epoch());
});

function request(input: IntentInput): AdmitRequest {
  const envelope = IntentClient.envelope(input);
  return {
    envelope,
    clientOrderId: deriveClientOrderId(envelope.idempotency_key),
    epoch,
    policyFloor: 'NORMAL',
    nowMs: 1_000,
    deadlineMs: 61_000,
    limits: { symbol: 1e15, strategy: 1e15, account: 1e15 },
    maxTrackedSymbols: 100,
  };
}

/** Rewrites a journal entry as the previous gateway version wrote it: one field per value, no packed field. */
async function toOldLayout(clientOrderId: string): Promise<void> {
  const key = keys.journal(clientOrderId);
  const fields = journalFields(await redis.hgetall(key));
  const ttl = await redis.pttl(key);
  await redis.del(key);
  await redis.hset(key, fields);
  if (ttl > 0) await redis.pexpire(key, ttl);
  expect(await redis.hexists(key, JOURNAL_PACKED_FIELD)).toBe(0);
  expect(Object.keys(fields)).toHaveLength(24); // 18 immutable + state, open_qty, filled_qty, attempt*
}

/** Journal entries read back in the old layout's shape, exposure and indexes: what must match. */
async function state(coids: readonly string[]): Promise<unknown> {
  const journal: Record<string, unknown> = {};
  for (const coid of coids) {
    const fields = journalFields(await redis.hgetall(keys.journal(coid)));
    delete fields.attempt_ms; // a Redis clock reading
    journal[coid] = fields;
  }
  return {
    journal,
    // attemptMs is a Redis clock reading.
    entries: (await new JournalReader(redis, keys).readMany(coids)).map((e) =>
      e && !(e instanceof Error) ? { ...e, attemptMs: 0 } : e,
    ),
    exposure: await new ExposureReader(redis, keys).read('acc-1'),
    admitted: (await redis.zrange(keys.journalAdmitted(), 0, -1)).sort(),
    open: (await redis.zrange(keys.journalOpen(), 0, -1)).sort(),
    idle: (await redis.smembers(keys.exposureIdle('acc-1'))).sort(),
  };
}

const outcome = (r: AdmitRequest, what: 'DISPATCHED' | 'REJECTED') =>
  store.recordOutcome({
    clientOrderId: r.clientOrderId,
    account: r.envelope.account,
    idempotencyKey: r.envelope.idempotency_key,
    epoch,
    outcome: what,
    decision: `${what} ${r.envelope.intent_id}`,
    venueState: what === 'DISPATCHED' ? 'ACKED' : 'REJECTED',
  });

/**
 * Admits three orders, optionally rewrites their entries in the old layout, then runs every script that
 * reads an entry: a replay (in flight), cancels naming them, a venue reject (release), a dispatch (open
 * index), fills and a terminal state (applyExecution), the account lookup of execution reports.
 */
async function lifecycle(rs: AdmitRequest[], old: boolean): Promise<{ answers: unknown[]; state: unknown }> {
  await redis.flushall();
  expect(await redis.incr(keys.epoch())).toBe(epoch);
  const [buy, sell, other, cancelBuy, cancelOther] = rs as [
    AdmitRequest,
    AdmitRequest,
    AdmitRequest,
    AdmitRequest,
    AdmitRequest,
  ];
  const coids = [buy, sell, other].map((r) => r.clientOrderId);
  for (const r of [buy, sell, other]) expect((await store.admit(r)).code).toBe(Code.ADMITTED);
  if (old) for (const coid of coids) await toOldLayout(coid);

  const answers: unknown[] = [
    await store.admit(buy), // in flight
    await store.admit(cancelBuy),
    await store.admit(cancelOther), // not that account's order
    await store.journalAccount(sell.clientOrderId),
    await outcome(sell, 'REJECTED'),
    await outcome(buy, 'DISPATCHED'),
    await outcome(other, 'DISPATCHED'),
    await store.applyExecution(buy.clientOrderId, 'acc-1', epoch, 4, false, 'PARTIALLY_FILLED'),
    await store.applyExecution(buy.clientOrderId, 'acc-1', epoch, 4, true, 'CANCELED'),
    await store.applyExecution(other.clientOrderId, 'acc-1', epoch, 7, true, 'FILLED'),
  ];
  return { answers, state: await state(coids) };
}

describe('journal entries of the previous layout (one field per value)', () => {
  it('are read, decided on, released and filled exactly as entries of the packed layout', async () => {
    const buy = request(newIntent(1, { qty: 10, price: 100, symbol: 'A' }));
    const cancel = (n: number, account: string) =>
      request(
        newIntent(n, {
          kind: 'CANCEL',
          qty: 0,
          price: 0,
          target_client_order_id: buy.clientOrderId,
          account,
        }),
      );
    const rs = [
      buy,
      request(newIntent(2, { qty: 5, price: 300, symbol: 'A', side: 'SELL', strategy_id: 's2' })),
      request(newIntent(3, { qty: 7, price: 50, symbol: 'B' })),
      cancel(10, 'acc-1'),
      cancel(11, 'acc-2'),
    ];
    const packed = await lifecycle(rs, false);
    const old = await lifecycle(rs, true);
    expect(
      packed.answers.map((a) => (typeof a === 'object' && a ? (a as { code: number }).code : a)),
    ).toEqual([
      Code.IN_FLIGHT,
      Code.ADMITTED,
      Code.UNKNOWN_ORDER,
      'acc-1',
      Code.ADMITTED,
      Code.ADMITTED,
      Code.ADMITTED,
      Code.ADMITTED,
      Code.ADMITTED,
      Code.ADMITTED,
    ]);
    expect(old).toEqual(packed);
    // What the lifecycle leaves: 4 BUY lots filled at 100, the rest released; B filled 7 at 50.
    const exposure = (packed.state as { exposure: Awaited<ReturnType<ExposureReader['read']>> }).exposure;
    expect(exposure.account).toEqual({ q: 11, fn: 750, rbq: 0, rb: 0, rsq: 0, rs: 0 });
  });

  it('read back through JournalReader with every value of the request', async () => {
    const r = request(newIntent(1, { qty: 3, price: 7, symbol: 'A', tif: 'IOC' }));
    await store.admit(r);
    const packed = await new JournalReader(redis, keys).read(r.clientOrderId);
    expect(packed).toMatchObject({
      state: 'ADMITTED',
      kind: 'NEW',
      idempotencyKey: r.envelope.idempotency_key,
      clientOrderId: r.clientOrderId,
      account: 'acc-1',
      strategy: 'strat-a',
      symbol: 'A',
      side: 'BUY',
      qty: 3,
      price: 7,
      tif: 'IOC',
      notional: 21,
      openQty: 3,
      filledQty: 0,
      epoch,
      admittedMs: 1_000,
      deadlineMs: 61_000,
      traceId: r.envelope.trace_id,
      intentId: r.envelope.intent_id,
      sourceTsNs: r.envelope.source_ts_ns,
      target: '',
      closed: false,
      attempt: 1,
      attemptEpoch: epoch,
    });
    await toOldLayout(r.clientOrderId);
    expect(await new JournalReader(redis, keys).read(r.clientOrderId)).toEqual(packed);
  });

  it('a packed field that does not decode fails that entry alone in readMany', async () => {
    const a = request(newIntent(1));
    const b = request(newIntent(2));
    await store.admit(a);
    await store.admit(b);
    await redis.hset(keys.journal(a.clientOrderId), JOURNAL_PACKED_FIELD, '["NEW"]');
    const [ra, rb] = await new JournalReader(redis, keys).readMany([a.clientOrderId, b.clientOrderId]);
    expect(ra).toBeInstanceOf(Error);
    expect(rb).toMatchObject({ clientOrderId: b.clientOrderId, state: 'ADMITTED' });
  });
});
