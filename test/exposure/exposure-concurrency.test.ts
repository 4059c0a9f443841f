import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Decision } from '../../src/contracts/decision.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import { worstCase } from '../../src/exposure/exposure-reader.js';
import { connectRedis } from '../../src/redis/connect.js';
import { exposureOf } from '../gateway/gateway-env.js';
import { spawnTs } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';

const CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'exposure-child.ts');
const PROCESSES = 4;
const PER_PROCESS = 60;
const M = 1_000_000;
const LIMITS = { HOT: 40 * M, WARM: 30 * M, strategy: 35 * M, account: 60 * M };

let redis: RedisServer;
let sim: VenueSim;

beforeAll(async () => {
  [redis, sim] = await Promise.all([RedisServer.start({ aof: true }), VenueSim.start({ fillMode: 'none' })]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), sim.stop()]);
});

describe('V-GW-EXPOSURE-LIMIT under concurrency', () => {
  it(`${PROCESSES} OS processes, each a gateway and a submitter, never reserve past a limit and reserve exactly what they accepted`, async () => {
    const r = await connectRedis({ url: redis.url, name: 'epoch' });
    await r.incr('{hft}:epoch');
    r.disconnect();
    const config: ConfigInput = {
      redis: { stateUrl: redis.url },
      broker: { host: sim.host, port: sim.orderPort, requestTimeoutMs: 2_000 },
      channel: { blockMs: 20, claimIdleMs: 1_000, claimIntervalMs: 100, attemptTimeoutMs: 5_000 },
      risk: {
        rejectWithoutReference: false,
        throttle: {
          perStrategy: { ratePerSec: 1_000_000, burst: 1_000_000 },
          global: { ratePerSec: 1_000_000, burst: 1_000_000 },
        },
      },
      exposure: {
        symbols: { HOT: LIMITS.HOT, WARM: LIMITS.WARM },
        defaults: { strategyNotional: LIMITS.strategy, accountNotional: LIMITS.account },
      },
      log: { level: 'warn' },
    };
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      spawnTs(CHILD, [JSON.stringify(config), String(i), String(PER_PROCESS), String(PROCESSES)]),
    );
    const codes = await Promise.all(children.map((c) => c.exited()));
    expect(codes, children.map((c) => c.output()).join('\n')).toEqual(children.map(() => 0));
    const results = children.map((c) => {
      const line = c
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"decisions"'));
      return JSON.parse(line ?? '{}') as { decisions: Decision[]; intents: IntentInput[] };
    });

    // Sum what was accepted, per level and side, from the decisions the submitters received.
    const sums = new Map<string, number>();
    const add = (level: string, side: string, n: number) =>
      sums.set(`${level}:${side}`, (sums.get(`${level}:${side}`) ?? 0) + n);
    const acceptedCoids: string[] = [];
    let rejectedByLimit = 0;
    for (const { decisions, intents } of results) {
      expect(decisions).toHaveLength(PER_PROCESS);
      decisions.forEach((d, i) => {
        const intent = intents[i] as IntentInput;
        if (d.status === 'ACCEPTED') {
          acceptedCoids.push(d.client_order_id ?? '');
          const n = intent.qty * intent.price;
          add(`S|${intent.symbol}`, intent.side, n);
          add(`T|${intent.strategy_id}`, intent.side, n);
          add('A', intent.side, n);
        } else {
          expect(d.reason).toMatch(/^EXPOSURE_(SYMBOL|STRATEGY|ACCOUNT)_LIMIT$/);
          rejectedByLimit++;
        }
      });
    }
    expect(rejectedByLimit).toBeGreaterThan(0);
    const e = await exposureOf(redis.url, 'acc-1');
    const levels: [string, { rb: number; rs: number; fn: number }, number][] = [
      ['S|HOT', e.symbols.get('HOT') ?? { rb: 0, rs: 0, fn: 0 }, LIMITS.HOT],
      ['S|WARM', e.symbols.get('WARM') ?? { rb: 0, rs: 0, fn: 0 }, LIMITS.WARM],
      ...[0, 1, 2].map(
        (s) =>
          [`T|strat-${s}`, e.strategies.get(`strat-${s}`) ?? { rb: 0, rs: 0, fn: 0 }, LIMITS.strategy] as [
            string,
            { rb: number; rs: number; fn: number },
            number,
          ],
      ),
      ['A', e.account, LIMITS.account],
    ];
    for (const [level, value, limit] of levels) {
      expect(value.rb, `${level} BUY`).toBe(sums.get(`${level}:BUY`) ?? 0);
      expect(value.rs, `${level} SELL`).toBe(sums.get(`${level}:SELL`) ?? 0);
      const worst = worstCase({ q: 0, rbq: 0, rsq: 0, ...value });
      expect(worst.buy, `${level} BUY worst case`).toBeLessThanOrEqual(limit);
      expect(worst.sell, `${level} SELL worst case`).toBeLessThanOrEqual(limit);
    }
    // The venue holds exactly the accepted orders, each once.
    const orders = await sim.orders();
    expect(orders.map((o) => o.clientOrderId).sort()).toEqual(acceptedCoids.sort());
    expect((await sim.counters()).duplicateAttempts).toBe(0);
  });
});
