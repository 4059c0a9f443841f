import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyspace } from '../../src/keys.js';
import { FeedSimulator, type SimQuote } from '../../src/quotes/feed-sim.js';
import type { NormalizedQuote } from '../../src/quotes/quote-schema-v1.js';
import { RedisQuotePublisher } from '../../src/quotes/redis-quote-publisher.js';
import { connectRedis } from '../../src/redis/connect.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { metricValue, quotesConfig, startRig } from './quote-fixtures.js';

const SYMBOLS = ['2330', '2317', '0050', 'TXFL6'];
let server: RedisServer;
let redis: Redis;
let prefix = 0;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = await connectRedis({ url: server.url, name: 'quote-publisher-test' });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function simQuotes(seed: number, count: number): Promise<SimQuote[]> {
  const sim = new FeedSimulator({ seed });
  await sim.subscribe(SYMBOLS, ['tick', 'bidask']);
  return sim.generate(count);
}

/** An ingress (collecting recorder in place of the WAL) with the Redis publisher subscribed. */
async function rig(publish: Record<string, number>) {
  const keys = new Keyspace(`{hft-q${++prefix}}`);
  const r = await startRig({ symbols: SYMBOLS, publish });
  const publisher = new RedisQuotePublisher(quotesConfig({ publish }).publish, {
    redis,
    keys,
    registry: r.registry,
    logger: r.sink.logger,
  });
  r.ingress.publisher.subscribe(publisher.listener);
  const deliver = async (quotes: SimQuote[]) => {
    for (const q of quotes) (q.topic === 'tick' ? r.feed.tick : r.feed.bidAsk)(q.payload, q.symbolId);
    await r.ingress.idle();
  };
  const streamed = async (topic: 'tick' | 'bidask') => {
    const entries = await redis.xrange(keys.quoteStream(topic), '-', '+');
    return entries.flatMap(([, fields]) => {
      const quotes = JSON.parse(fields[3] as string) as NormalizedQuote[];
      expect(fields[0]).toBe('n');
      expect(Number(fields[1])).toBe(quotes.length);
      return quotes;
    });
  };
  /** Every quote handed to the publisher is published, dropped (counted) or still buffered. */
  const accounted = async () =>
    (await metricValue(r.registry, 'hft_quote_redis_published_total')) +
    (await metricValue(r.registry, 'hft_quote_redis_dropped_total')) +
    publisher.bufferedQuotes;
  return { ...r, keys, publisher, deliver, streamed, accounted };
}

describe('Redis quote publisher (real redis-server)', () => {
  it('publishes every validated quote, exactly as recorded, in batches, in order per topic', async () => {
    const t = await rig({ batchMaxQuotes: 50, flushIntervalMs: 1 });
    await t.deliver(await simQuotes(11, 1_000));
    await t.publisher.flush();
    const recorded = t.recorder.records.map((r) => r.payload as NormalizedQuote);
    expect(recorded).toHaveLength(1_000);
    // Through JSON both ways: what a strategy worker reads back is the normalized quote, exact.
    const viaJson = (qs: NormalizedQuote[]) => JSON.parse(JSON.stringify(qs));
    expect(await t.streamed('tick')).toEqual(viaJson(recorded.filter((q) => q.kind !== 'stock_bidask')));
    expect(await t.streamed('bidask')).toEqual(viaJson(recorded.filter((q) => q.kind === 'stock_bidask')));
    expect(await metricValue(t.registry, 'hft_quote_redis_published_total')).toBe(1_000);
    expect(await metricValue(t.registry, 'hft_quote_redis_dropped_total')).toBe(0);
    // Batches, not one entry per quote.
    const entries =
      (await redis.xlen(t.keys.quoteStream('tick'))) + (await redis.xlen(t.keys.quoteStream('bidask')));
    expect(entries).toBeLessThan(1_000 / 10);
  });

  it('keeps each topic stream capped (MAXLEN ~) however much is published', async () => {
    const t = await rig({ batchMaxQuotes: 1, maxLen: 16, flushIntervalMs: 1 });
    for (let i = 0; i < 4; i++) {
      await t.deliver(await simQuotes(20 + i, 500));
      await t.publisher.flush();
    }
    expect(await metricValue(t.registry, 'hft_quote_redis_published_total')).toBe(2_000);
    // `~` trims whole stream nodes (stream-node-max-entries, 100 by default), never below maxLen.
    for (const topic of ['tick', 'bidask'] as const) {
      const len = await redis.xlen(t.keys.quoteStream(topic));
      expect(len).toBeGreaterThanOrEqual(16);
      expect(len).toBeLessThanOrEqual(16 + 100);
    }
  });

  it('with Redis killed: the ingress and the WAL path go on, the buffer stays bounded, drops are counted; after a restart it publishes again', async () => {
    const t = await rig({ batchMaxQuotes: 64, maxBufferedQuotes: 512, flushIntervalMs: 1 });
    await t.deliver(await simQuotes(31, 300));
    await t.publisher.flush();
    expect(await metricValue(t.registry, 'hft_quote_redis_published_total')).toBe(300);

    await server.kill();
    await waitFor('the client to see Redis gone', async () => redis.status !== 'ready');
    const during = await simQuotes(32, 3_000);
    await t.deliver(during);
    await t.publisher.flush();
    // Nothing on the quote path noticed: every quote recorded (the WAL's share), no worker errors.
    expect(t.recorder.records).toHaveLength(3_300);
    expect(await metricValue(t.registry, 'hft_quote_worker_errors_total')).toBe(0);
    expect(await metricValue(t.registry, 'hft_quote_publish_errors_total')).toBe(0);
    expect(t.publisher.bufferedQuotes).toBeLessThanOrEqual(512);
    expect(await metricValue(t.registry, 'hft_quote_redis_dropped_total')).toBeGreaterThanOrEqual(
      3_000 - 512,
    );
    expect(await t.accounted()).toBe(3_300);

    await server.restart();
    await waitFor('the client to reconnect', async () => redis.status === 'ready', { timeoutMs: 60_000 });
    const after = await simQuotes(33, 200);
    await t.deliver(after);
    await waitFor('the buffer to drain into the restarted Redis', async () => {
      await t.publisher.flush();
      return t.publisher.bufferedQuotes === 0;
    });
    // The restarted Redis (no persistence in this test) holds what was published since: the newest
    // quotes buffered during the outage, then the 200 delivered after it, in ingress order.
    const streamed = [...(await t.streamed('tick')), ...(await t.streamed('bidask'))];
    const seqs = streamed.map((q) => q.ingress_seq).sort((a, b) => a - b);
    expect(seqs.slice(-200)).toEqual(
      t.recorder.records
        .slice(-200)
        .map((r) => (r.payload as NormalizedQuote).ingress_seq)
        .sort((a, b) => a - b),
    );
    expect(await t.accounted()).toBe(3_500);
    expect(await metricValue(t.registry, 'hft_quote_redis_published_total')).toBe(300 + streamed.length);
  });

  it('close() sends what is buffered, then counts later quotes as dropped', async () => {
    const t = await rig({ batchMaxQuotes: 4_096, flushIntervalMs: 1_000 });
    await t.deliver(await simQuotes(41, 100));
    await t.publisher.close();
    expect(await metricValue(t.registry, 'hft_quote_redis_published_total')).toBe(100);
    await t.deliver(await simQuotes(42, 10));
    expect(await metricValue(t.registry, 'hft_quote_redis_dropped_total', { reason: 'closed' })).toBe(10);
  });
});
