import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/contracts/decision.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { IntentClient } from '../../src/channel/intent-client.js';
import { newIntent } from '../fixtures/intents.js';
import { tempDir, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { FeedSimProc } from '../harness/feed-sim.js';
import { allRecords, readSegments } from '../wal/wal-fixtures.js';
import { client, gatewayConfig } from './gateway-env.js';
import { GatewayProc } from './gateway-proc.js';

const SYMBOLS = ['2330', '2317'];
const TOKEN = 'quote-collar-test-token';
const MAX_AGE_MS = 2_000;

interface PublishedQuote {
  kind: string;
  code: string;
  ingress_seq: number;
  recv_ts_ns: string;
  fields: { close?: number; simtrade?: boolean };
}

let redis: RedisServer;
let sim: VenueSim;
let feed: FeedSimProc;
let reader: Redis;

beforeAll(async () => {
  [redis, sim, feed] = await Promise.all([
    RedisServer.start(),
    VenueSim.start({ fillMode: 'none' }),
    FeedSimProc.start({ symbols: SYMBOLS, seed: 11, rate: 400 }),
  ]);
  reader = new Redis(redis.url);
});
afterAll(async () => {
  reader?.disconnect();
  await Promise.all([redis?.stop(), sim?.stop(), feed?.stop()]);
});

/** Every quote the gateway published to the strategy-worker stream of `topic` so far. */
async function published(topic: 'tick' | 'bidask'): Promise<PublishedQuote[]> {
  const entries = await reader.xrange(`{hft}:quotes:${topic}`, '-', '+');
  return entries.flatMap(([, fields]) => {
    const at = fields.indexOf('quotes');
    return JSON.parse(fields[at + 1] as string) as PublishedQuote[];
  });
}

/** What the collar is centred on now for `symbol` (GET /admin/quotes/references), null before a trade. */
async function reference(
  proc: GatewayProc,
  symbol: string,
): Promise<{ price: number; age_ms: number } | null> {
  const res = await fetch(`${proc.opsUrl}/admin/quotes/references`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as Record<string, { price: number; age_ms: number } | null>)[symbol] ?? null;
}

async function metric(proc: GatewayProc, name: string): Promise<number | undefined> {
  const line = (await proc.metrics())
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function feedState(proc: GatewayProc): Promise<string | undefined> {
  const detail = (await proc.ready()).body.detail as { quote_feed?: { state: string } };
  return detail.quote_feed?.state;
}

describe('gateway process with quote ingress from the feed simulator over TCP', () => {
  it('collars NEW intents on live reference prices, records market.* WAL-first, and rejects on stale references once the feed dies', async () => {
    const walDir = tempDir('quote-collar-wal');
    const proc = await GatewayProc.start(redis.url, sim, {
      HFT__WAL__DIR: walDir,
      HFT__OPS__ADMIN_TOKEN: TOKEN,
      HFT__RISK__REJECT_WITHOUT_REFERENCE: 'true',
      HFT__RISK__COLLAR_BPS: '2000',
      HFT__RISK__REFERENCE_MAX_AGE_MS: String(MAX_AGE_MS),
      HFT__QUOTES__SYMBOLS: JSON.stringify(SYMBOLS),
      HFT__QUOTES__FEED__ENABLED: 'true',
      HFT__QUOTES__FEED__PORT: String(feed.port),
      HFT__QUOTES__FEED__RECONNECT_INITIAL_MS: '20',
      HFT__QUOTES__FEED__RECONNECT_MAX_MS: '200',
      HFT__QUOTES__PUBLISH__ENABLED: 'true',
    });
    const config = gatewayConfig(redis.url, sim);
    const c: IntentClient = await client(config);
    let n = 0;
    const submit = async (price: number): Promise<{ decision: Decision; clientOrderId: string }> => {
      const envelope = IntentClient.envelope(newIntent(++n, { symbol: '2330', qty: 1, price }));
      const decision = await c.submit(envelope);
      return { decision, clientOrderId: deriveClientOrderId(envelope.idempotency_key) };
    };
    try {
      await waitFor('feed connected in readiness', async () => (await feedState(proc)) === 'connected');
      expect(await metric(proc, 'hft_quote_feed_connected')).toBe(1);
      const ref = (await waitFor('a 2330 reference price', () => reference(proc, '2330'))).price;

      // Collar ±20 % around a random walk of at most a few ticks per quote: ref stays inside meanwhile.
      const inside = await submit(ref);
      expect(inside.decision, JSON.stringify(inside.decision)).toMatchObject({
        status: 'ACCEPTED',
        reason: null,
      });
      expect(inside.decision.client_order_id).toBe(inside.clientOrderId);
      expect((await sim.order(inside.clientOrderId))?.clientOrderId).toBe(inside.clientOrderId);

      const outside = await submit(ref * 2);
      expect(outside.decision).toMatchObject({ status: 'REJECTED', reason: 'RISK_PRICE_COLLAR' });
      expect(await sim.order(outside.clientOrderId)).toBeUndefined();

      // The operator routes are mounted on the ops server's admin API.
      const status = await fetch(`${proc.opsUrl}/admin/quotes/status`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ halted: false, overflow_policy: 'drop_oldest' });

      // The feed dies: the gateway keeps running, says so, and the references age out.
      await feed.kill();
      await waitFor('feed lost in readiness', async () => (await feedState(proc)) !== 'connected');
      expect((await proc.ready()).status).toBe(200);
      await waitFor(
        '2330 reference older than the staleness bound',
        async () => ((await reference(proc, '2330'))?.age_ms ?? 0) > MAX_AGE_MS,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(await metric(proc, 'hft_quote_reference_age_max_ms')).toBeGreaterThan(MAX_AGE_MS);
      expect(await metric(proc, 'hft_quote_feed_connected')).toBe(0);
      const stale = await submit(ref);
      expect(stale.decision).toMatchObject({ status: 'REJECTED', reason: 'RISK_REFERENCE_STALE' });
      expect(await sim.order(stale.clientOrderId)).toBeUndefined();

      // The feed comes back on the same port: the gateway reconnects on its own and trades again.
      const before = (await published('tick')).length;
      await feed.launch();
      await waitFor('feed reconnected', async () => (await feedState(proc)) === 'connected');
      await waitFor('fresh ticks after the reconnect', async () => (await published('tick')).length > before);
      const fresh = await waitFor(
        '2330 reference fresh again',
        async () => {
          const r = await reference(proc, '2330');
          return r !== null && r.age_ms < MAX_AGE_MS / 4 ? r : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      );
      const again = await submit(fresh.price);
      expect(again.decision).toMatchObject({ status: 'ACCEPTED' });
      expect(await metric(proc, 'hft_quote_feed_connects_total')).toBeGreaterThanOrEqual(2);
    } finally {
      await c.close();
      expect(await proc.stop()).toBe(0);
    }

    // WAL: sealed on SIGTERM, market.* present, and every quote published to the streams was recorded
    // with the same content (the stream is fed from the same worker turn as the WAL).
    const segments = readSegments(walDir, 'gw-proc');
    expect(segments.filter((s) => s.topic.startsWith('market.') && !s.sealed)).toEqual([]);
    const records = allRecords(walDir, 'gw-proc');
    const market = new Map<number, string>();
    for (const r of records) {
      if (r.topic !== 'market.tick' && r.topic !== 'market.bidask') continue;
      const q = JSON.parse(r.payload) as PublishedQuote;
      expect(SYMBOLS).toContain(q.code);
      market.set(q.ingress_seq, r.payload);
    }
    expect(records.some((r) => r.topic === 'market.tick')).toBe(true);
    expect(records.some((r) => r.topic === 'market.bidask')).toBe(true);
    const streamed = [...(await published('tick')), ...(await published('bidask'))];
    expect(streamed.length).toBeGreaterThan(0);
    for (const q of streamed) {
      expect(JSON.parse(market.get(q.ingress_seq) ?? 'null'), `ingress_seq ${q.ingress_seq}`).toEqual(q);
    }
    // And the intents around them, in the same producer's WAL.
    expect(records.filter((r) => r.topic === 'gateway.decision').length).toBeGreaterThanOrEqual(4);
  });
});
