import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import type { Config } from '../../src/config/schema.js';
import { parseDecision } from '../../src/contracts/decision.js';
import { ENVELOPE_FIELDS, serializeEnvelope } from '../../src/contracts/intent.js';
import { CODES } from '../../src/errors.js';
import { connectRedis } from '../../src/redis/connect.js';
import { newIntent } from '../fixtures/intents.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { type RunningGateway, client, exposureOf, gatewayConfig, startGateway } from './gateway-env.js';

let redis: RedisServer;
let sim: VenueSim;
let config: Readonly<Config>;
let g: RunningGateway;
let r: Redis;
let replies: Redis;

beforeAll(async () => {
  [redis, sim] = await Promise.all([RedisServer.start(), VenueSim.start({ fillMode: 'none' })]);
  config = gatewayConfig(redis.url, sim);
  g = await startGateway(config);
  r = await connectRedis({ url: redis.url, name: 'fuzz' });
  replies = await connectRedis({ url: redis.url, name: 'fuzz-replies', blocking: true });
});
afterAll(async () => {
  r.disconnect();
  replies.disconnect();
  await g.close();
  await Promise.all([redis.stop(), sim.stop()]);
});

const FIELDS = ENVELOPE_FIELDS;

type Mutation =
  | { op: 'delete'; field: number }
  | { op: 'set'; field: number; value: unknown }
  | { op: 'extra'; name: string; value: unknown }
  | { op: 'raw'; text: string }
  | { op: 'none' };

const scalar = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    -1,
    0,
    2 ** 63,
    'NEW',
    'CANCEL',
    'REPLACE',
    'SELL',
  ),
  fc.boolean(),
  fc.constant(null),
  fc.anything(),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), field: fc.nat(FIELDS.length - 1) }),
  fc.record({ op: fc.constant('set' as const), field: fc.nat(FIELDS.length - 1), value: scalar }),
  fc.record({
    op: fc.constant('extra' as const),
    name: fc.string({ minLength: 1, maxLength: 12 }),
    value: scalar,
  }),
  fc.record({ op: fc.constant('raw' as const), text: fc.string({ maxLength: 5_000 }) }),
  fc.constant({ op: 'none' as const }),
);

let seq = 0;

function entryFor(m: Mutation): { key: string; payload: string; valid: boolean; notional: number } {
  const base = IntentClient.envelope(newIntent(seq++, { symbol: `F${seq % 7}` }));
  if (m.op === 'raw') return { key: base.idempotency_key, payload: m.text, valid: false, notional: 0 };
  const obj: Record<string, unknown> = { ...base };
  if (m.op === 'delete') delete obj[FIELDS[m.field] as string];
  if (m.op === 'set') obj[FIELDS[m.field] as string] = m.value;
  if (m.op === 'extra') obj[m.name] = m.value;
  let payload: string;
  try {
    payload = m.op === 'none' ? serializeEnvelope(base) : JSON.stringify(obj);
  } catch {
    payload = '{"not":"serializable"}';
  }
  return {
    key: base.idempotency_key,
    payload: payload ?? 'undefined',
    valid: m.op === 'none',
    notional: base.qty * base.price,
  };
}

describe('fuzzed envelopes (fast-check)', () => {
  it('answers every entry with a typed decision, reserves only for accepted intents, and never stops', async () => {
    let acceptedNotional = 0;
    let replyCursor = '0';
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 12 }), async (mutations) => {
        const entries = mutations.map(entryFor);
        for (const e of entries) {
          await r.xadd('{hft}:stream:intents', '*', 'k', e.key, 'r', '{hft}:reply:fuzz', 'e', e.payload);
        }
        const got: string[] = [];
        while (got.length < entries.length) {
          const res = (await replies.xread(
            'COUNT',
            100,
            'BLOCK',
            5_000,
            'STREAMS',
            '{hft}:reply:fuzz',
            replyCursor,
          )) as [string, [string, string[]][]][] | null;
          if (!res) throw new Error(`only ${got.length}/${entries.length} replies`);
          for (const [id, fields] of res[0]?.[1] ?? []) {
            replyCursor = id;
            got.push(fields[fields.indexOf('d') + 1] as string);
          }
        }
        const decisions = got.map((d) => parseDecision(d));
        for (const d of decisions) {
          if (d.status === 'REJECTED') {
            expect(d.reason !== null && CODES[d.reason].kind === 'reject').toBe(true);
          } else {
            expect(d.reason).toBeNull();
          }
        }
        // Replies arrive in completion order; match them to entries by key.
        // A mutation may leave the envelope valid (a new trace id, a ttl in range): those are accepted too.
        for (const e of entries) {
          const accepted = decisions.some((x) => x.idempotency_key === e.key && x.status === 'ACCEPTED');
          if (e.valid) expect(accepted).toBe(true);
          if (accepted) acceptedNotional += e.notional;
        }
      }),
      { numRuns: Number(process.env.HFT_FUZZ_RUNS ?? 25), seed: Number(process.env.HFT_FUZZ_SEED ?? 424242) },
    );
    const exposure = await exposureOf(redis.url, 'acc-1');
    expect(exposure.account.rb).toBe(acceptedNotional);
    expect(exposure.account.rs).toBe(0);
    expect((await sim.orders()).length).toBe(acceptedNotional / (1_000 * 5_805_000));
    // The loop is still deciding.
    const c = await client(config);
    expect((await c.submit(newIntent(1_000_000))).status).toBe('ACCEPTED');
    await c.close();
  });
});
