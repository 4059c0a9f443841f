import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { Completion } from '../../src/channel/intent-consumer.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import { ExposureReader } from '../../src/exposure/exposure-reader.js';
import {
  type AdmitRequest,
  GatewayStore,
  type OutcomeRequest,
  type ScriptAnswer,
} from '../../src/gateway/gateway-store.js';
import { GatewayScriptCode as Code } from '../../src/gateway/script-codes.js';
import { Keyspace } from '../../src/keys.js';
import { CallBatcher } from '../../src/redis/call-batcher.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { newIntent } from '../fixtures/intents.js';
import { RedisServer } from '../harness/redis-server.js';

// The gateway sends several admits (outcomes) per script call. Each intent of a batch must be decided
// exactly as a call of its own, in the same order, would decide it: these tests run the same sequence
// once as one batch and once one call per intent on a fresh Redis, and compare answers and state.

const keys = new Keyspace('{hft}');
let server: RedisServer;
let redis: Redis;
let scripts: Scripts;
let epoch: number;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await connectRedis({ url: server.url, name: 'batched-scripts-test' });
  scripts = new Scripts();
  scripts.register(redis);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  epoch = await redis.incr(keys.epoch());
});

const store = (batchMax = 32) => new GatewayStore(redis, scripts, keys, 60_000, { batchMax });

function request(input: IntentInput, over: Partial<AdmitRequest> = {}): AdmitRequest {
  const envelope = IntentClient.envelope(input);
  return {
    envelope,
    clientOrderId: deriveClientOrderId(envelope.idempotency_key),
    epoch,
    policyFloor: 'NORMAL',
    nowMs: 1_000,
    deadlineMs: 61_000,
    limits: { symbol: 10_000_000, strategy: 15_000_000, account: 1e15 },
    maxTrackedSymbols: 2,
    ...over,
  };
}

/** Every key, without Redis clock readings (attempt_ms; sorted-set members sorted, scores dropped). */
async function state(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      delete h.attempt_ms;
      out[key] = h;
    } else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
    else if (type === 'zset') out[key] = (await redis.zrange(key, 0, -1)).sort();
    else if (type === 'stream') {
      // Entry ids are clock readings too: the fields, and how many entries each group still has pending.
      out[key] = (await redis.xrange(key, '-', '+')).map(([, fields]) => fields);
      const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
      out[`${key} pending`] = groups.map((g) => [g[1], g[5]]);
    } else out[key] = await redis.get(key);
  }
  return out;
}

/**
 * Admits ten intents through `s` at once (after one admit that loads the script) and counts the EVALSHA
 * calls they took; every answer must be ADMITTED.
 */
async function admitTenConcurrently(s: GatewayStore): Promise<{ rs: AdmitRequest[]; calls: number }> {
  await s.admitMany([request(newIntent(100, { qty: 1, price: 1 }))]);
  await redis.call('CONFIG', 'RESETSTAT');
  const rs = Array.from({ length: 10 }, (_, i) => request(newIntent(i, { qty: 1, price: 1 })));
  const answers = await Promise.all(rs.map((r) => s.admit(r)));
  expect(answers.map((a) => a.code)).toEqual(rs.map(() => Code.ADMITTED));
  const calls = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
  return { rs, calls };
}

/** A sequence touching every admit branch: limits at each level, the symbol bound, duplicates, policy, cancels. */
function sequence(): AdmitRequest[] {
  const buy = (n: number, over: Partial<IntentInput> = {}) =>
    newIntent(n, { qty: 1, price: 4_000_000, symbol: 'A', strategy_id: 's1', ...over });
  const first = request(buy(1));
  const cancel = (n: number, target: string) =>
    request(newIntent(n, { kind: 'CANCEL', qty: 0, price: 0, target_client_order_id: target }));
  return [
    first,
    request(buy(2)),
    request(buy(3)), // symbol A: 8M + 4M > 10M
    first, // the same key again: in flight
    request(buy(4, { symbol: 'B' })),
    request(buy(5, { symbol: 'B' })), // strategy s1: 12M + 4M > 15M
    request(buy(6, { symbol: 'C', strategy_id: 's2' })), // third symbol at a bound of 2: none idle
    request(buy(7, { symbol: 'B', strategy_id: 's2', side: 'SELL' })),
    request(buy(8), { policyFloor: 'HALT' }),
    request(buy(9, { symbol: 'B', strategy_id: 's2' }), { epoch: epoch - 1 }),
    request(buy(10), { policyFloor: 'NOPE' as never }),
    cancel(11, first.clientOrderId), // reads the packed journal entry of its target
    cancel(12, 'AAAAAAAAAAAAAAAAAAAA'), // never journaled
  ];
}

describe('batched gateway scripts', () => {
  it('admit: a batch answers and writes exactly what one call per intent, in order, would', async () => {
    const seq = sequence();
    const batched = await store().admitMany(seq);
    const batchedState = await state();
    await redis.flushall();
    expect(await redis.incr(keys.epoch())).toBe(epoch);
    const single: ScriptAnswer[] = [];
    for (const r of seq) single.push(...(await store().admitMany([r])));
    expect(single.map((a) => a.code)).toEqual([
      Code.ADMITTED,
      Code.ADMITTED,
      Code.EXPOSURE_SYMBOL_LIMIT,
      Code.IN_FLIGHT,
      Code.ADMITTED,
      Code.EXPOSURE_STRATEGY_LIMIT,
      Code.EXPOSURE_LIMIT,
      Code.ADMITTED,
      Code.POLICY_HALT,
      Code.FENCED,
      Code.BAD_ARGUMENT,
      Code.ADMITTED,
      Code.UNKNOWN_ORDER,
    ]);
    expect(batched).toEqual(single);
    expect(batchedState).toEqual(await state());
  });

  it('admit: an error raised by one intent is answered for it alone; the rest of the batch is decided', async () => {
    await redis.set(keys.exposure('broken'), 'not a hash');
    const [a, b, c] = await store().admitMany([
      request(newIntent(1, { qty: 1, price: 1 })),
      request(newIntent(2, { qty: 1, price: 1, account: 'broken' })),
      request(newIntent(3, { qty: 1, price: 1 })),
    ]);
    expect(a?.code).toBe(Code.ADMITTED);
    expect(b).toMatchObject({ code: Code.BAD_ARGUMENT, detail: expect.stringContaining('WRONGTYPE') });
    expect(c?.code).toBe(Code.ADMITTED);
    expect((await new ExposureReader(redis, keys).read('acc-1')).account.rb).toBe(2);
  });

  it('outcome: a batch records exactly what one call per record, in order, would', async () => {
    const admitted = sequence().filter((_, i) => [0, 1, 4, 7].includes(i));
    const outcomes = (): OutcomeRequest[] => [
      ...admitted.map(
        (r, i): OutcomeRequest => ({
          clientOrderId: r.clientOrderId,
          account: r.envelope.account,
          idempotencyKey: r.envelope.idempotency_key,
          epoch,
          outcome: i === 1 ? 'REJECTED' : 'DISPATCHED',
          decision: `decision ${i}`,
          venueState: i === 1 ? 'REJECTED' : 'ACKED',
        }),
      ),
      // Recorded twice: the second finds it no longer ADMITTED.
      {
        clientOrderId: admitted[0]?.clientOrderId ?? '',
        account: 'acc-1',
        idempotencyKey: admitted[0]?.envelope.idempotency_key ?? '',
        epoch,
        outcome: 'REJECTED',
        decision: 'late',
        venueState: '',
      },
      // An abort from an attempt that is not the latest.
      {
        clientOrderId: admitted[2]?.clientOrderId ?? '',
        account: 'acc-1',
        idempotencyKey: admitted[2]?.envelope.idempotency_key ?? '',
        epoch,
        outcome: 'ABORTED',
        decision: '',
        venueState: '',
        attempt: 7,
      },
    ];
    const run = async (perCall: number) => {
      await redis.flushall();
      epoch = await redis.incr(keys.epoch());
      const s = store();
      await s.admitMany(admitted.map((r) => ({ ...r, epoch })));
      // Three of them came from the intent stream: their outcomes complete the entries.
      const stream = keys.intentStream('intents');
      await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
      for (const r of admitted.slice(0, 3)) await redis.xadd(stream, '*', 'k', r.envelope.idempotency_key);
      const delivered = (await redis.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '>')) as [
        string,
        [string, string[]][],
      ][];
      const ids = delivered[0]?.[1].map(([id]) => id) ?? [];
      const list = outcomes().map((o, i) =>
        i < 3
          ? {
              ...o,
              completion: new Completion(
                stream,
                'g',
                ids[i] ?? '',
                keys.replyStream(`c${i % 2}`),
                100,
                60_000,
              ),
            }
          : o,
      );
      const answers: ScriptAnswer[] = [];
      for (let i = 0; i < list.length; i += perCall) {
        answers.push(...(await s.recordOutcomes(list.slice(i, i + perCall))));
      }
      return { answers, st: await state() };
    };
    const single = await run(1);
    expect(single.answers.map((a) => [a.code, a.extra])).toEqual([
      [Code.ADMITTED, 1],
      [Code.ADMITTED, 1],
      [Code.ADMITTED, 1],
      [Code.ADMITTED, 0],
      [Code.NOT_ADMITTED, 0],
      [Code.NOT_ADMITTED, 0],
    ]);
    expect(single.st[keys.journalOpen()]).toHaveLength(3); // the NEW orders dispatched, not the rejected
    expect(single.st[`${keys.intentStream('intents')} pending`]).toEqual([['g', 0]]);
    expect(single.st[keys.intentStream('intents')]).toEqual([]); // acknowledged and deleted
    expect(single.st[keys.replyStream('c0')]).toHaveLength(2); // records 0 and 2 replied there
    expect(await redis.pttl(keys.replyStream('c0'))).toBeGreaterThan(0);
    const batched = await run(32);
    expect(batched).toEqual(single);
  });

  it('outcome: releases that empty pair, strategy and symbol levels within a batch leave what one call per record would', async () => {
    // Two strategies on symbol A (netting), one on B: released one by one, the pair and strategy levels
    // return to zero (their fields are deleted), B goes idle, and A goes idle only with its last pair.
    const rs = [
      request(newIntent(1, { qty: 2, price: 100, symbol: 'A', strategy_id: 's1' })),
      request(newIntent(2, { qty: 2, price: 100, symbol: 'A', strategy_id: 's2', side: 'SELL' })),
      request(newIntent(3, { qty: 1, price: 300, symbol: 'B', strategy_id: 's1' })),
      request(newIntent(4, { qty: 3, price: 100, symbol: 'A', strategy_id: 's1' })),
    ];
    const release = (r: AdmitRequest, outcome: 'REJECTED' | 'ABORTED'): OutcomeRequest => ({
      clientOrderId: r.clientOrderId,
      account: r.envelope.account,
      idempotencyKey: r.envelope.idempotency_key,
      epoch,
      outcome,
      decision: outcome === 'ABORTED' ? '' : `rejected ${r.envelope.intent_id}`,
      venueState: '',
      attempt: 1,
    });
    const [r1, r2, r3, r4] = rs as [AdmitRequest, AdmitRequest, AdmitRequest, AdmitRequest];
    const list = [
      release(r1, 'REJECTED'),
      release(r3, 'ABORTED'),
      release(r2, 'REJECTED'),
      release(r1, 'REJECTED'), // again: no longer ADMITTED
      release(r4, 'ABORTED'),
    ];
    const run = async (perCall: number) => {
      await redis.flushall();
      expect(await redis.incr(keys.epoch())).toBe(epoch);
      const s = store();
      const admitted = await s.admitMany(rs.map((r) => ({ ...r, maxTrackedSymbols: 10 })));
      expect(admitted.map((a) => a.code)).toEqual(rs.map(() => Code.ADMITTED));
      const answers: ScriptAnswer[] = [];
      for (let i = 0; i < list.length; i += perCall) {
        answers.push(...(await s.recordOutcomes(list.slice(i, i + perCall))));
      }
      return { answers, st: await state() };
    };
    const single = await run(1);
    const batched = await run(32);
    expect(single.answers.map((a) => [a.code, a.detail])).toEqual([
      [Code.ADMITTED, '2'],
      [Code.ADMITTED, '1'],
      [Code.ADMITTED, '2'],
      [Code.NOT_ADMITTED, 'REJECTED'],
      [Code.ADMITTED, '3'],
    ]);
    expect(single.st[keys.exposure('acc-1')]).toEqual({
      '~encoding': expect.any(String),
      'S|A|fn': '0',
      'S|A|q': '0',
      'S|A|rb': '0',
      'S|A|rbq': '0',
      'S|A|rs': '0',
      'S|A|rsq': '0',
      'S|A|pn': '0',
      'S|B|fn': '0',
      'S|B|q': '0',
      'S|B|rb': '0',
      'S|B|rbq': '0',
      'S|B|rs': '0',
      'S|B|rsq': '0',
      'S|B|pn': '0',
      'A|rbq': '0',
      'A|rb': '0',
      'A|rsq': '0',
      'A|rs': '0',
    });
    expect(single.st[keys.exposureIdle('acc-1')]).toEqual(['A', 'B']);
    expect(batched).toEqual(single);
  });

  it('admits (outcomes) made in the same tick go out as few script calls, each answered its own', async () => {
    const s = store(4);
    const { rs, calls } = await admitTenConcurrently(s);
    expect(calls).toBe(3); // 10 admits, at most 4 per call
    const outcomes = await Promise.all(
      rs.map((r) =>
        s.recordOutcome({
          clientOrderId: r.clientOrderId,
          account: r.envelope.account,
          idempotencyKey: r.envelope.idempotency_key,
          epoch,
          outcome: 'DISPATCHED',
          decision: r.envelope.intent_id,
          venueState: 'ACKED',
        }),
      ),
    );
    expect(outcomes.map((a) => a.code)).toEqual(rs.map(() => Code.ADMITTED));
    for (const r of rs) {
      expect(await redis.get(keys.decision(r.envelope.idempotency_key))).toBe(r.envelope.intent_id);
    }
  });
});

describe('batching off (scriptBatchMax 1)', () => {
  it('sends one script call per admit, all at once', async () => {
    const { calls } = await admitTenConcurrently(store(1));
    expect(calls).toBe(10);
  });
});

describe('exposure hash encoding', () => {
  it('pins the exposure hash to the hashtable encoding from its first write; readers skip the pin', async () => {
    // A small hash would be a listpack, where every one of the 25 fields an admit reads is a linear scan.
    expect((await store().admit(request(newIntent(1, { qty: 1, price: 1 })))).code).toBe(Code.ADMITTED);
    expect(await redis.call('OBJECT', 'ENCODING', keys.exposure('acc-1'))).toBe('hashtable');
    const e = await new ExposureReader(redis, keys).read('acc-1');
    expect(e.account).toEqual({ q: 0, fn: 0, rbq: 1, rb: 1, rsq: 0, rs: 0 });
    expect([...e.symbols.keys()]).toEqual(['2330']);
  });
});

describe('CallBatcher', () => {
  it('keeps request order across batches and fails only the batch that failed', async () => {
    const seen: number[][] = [];
    const b = new CallBatcher<number, number>(
      async (reqs) => {
        seen.push([...reqs]);
        if (reqs.includes(3)) throw new Error('boom');
        return reqs.map((r) => r * 10);
      },
      2,
      1,
    );
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => b.call(n)));
    expect(seen).toEqual([[1, 2], [3, 4], [5]]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual([
      10,
      20,
      'failed',
      'failed',
      50,
    ]);
  });

  it('rejects every request of a batch whose answer count does not match', async () => {
    const b = new CallBatcher<number, number>(async () => [1], 8, 1);
    const results = await Promise.allSettled([b.call(1), b.call(2)]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});

describe('Scripts.run (commands built with flat string arguments)', () => {
  it('sends a script by its text again when Redis answers NOSCRIPT (a restarted Redis), deciding nothing twice', async () => {
    const s = store(1);
    expect((await s.admit(request(newIntent(1, { qty: 1, price: 1 })))).code).toBe(Code.ADMITTED);
    await redis.call('SCRIPT', 'FLUSH');
    await redis.call('CONFIG', 'RESETSTAT');
    const r = request(newIntent(2, { qty: 1, price: 1 }));
    expect((await s.admit(r)).code).toBe(Code.ADMITTED);
    const stats = await redis.info('commandstats');
    expect(stats).toMatch(/cmdstat_evalsha:calls=1,.*failed_calls=1/);
    expect(stats).toMatch(/cmdstat_eval:calls=1,/);
    // Admitted once: the EVALSHA that met NOSCRIPT ran nothing.
    expect((await new ExposureReader(redis, keys).read('acc-1')).account.rbq).toBe(2);
    expect(await s.admit(r)).toMatchObject({ code: Code.IN_FLIGHT });
  });
});
