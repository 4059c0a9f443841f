import { connect } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedServer } from '../../src/quotes/feed-server.js';
import { FeedSimulator } from '../../src/quotes/feed-sim.js';
import { LineDecoder } from '../../src/quotes/line-decoder.js';
import { TcpQuoteFeed } from '../../src/quotes/tcp-quote-feed.js';
import { freePort, waitFor } from '../harness/process.js';
import { logSink, metricValue, quotesConfig } from './quote-fixtures.js';

const SERVED = ['2330', '2317', '2454', 'TXFL6'];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(port: number, opts: { maxClientBufferBytes?: number } = {}) {
  const sim = new FeedSimulator({ seed: 5 });
  await sim.subscribe(SERVED, ['tick', 'bidask']);
  const srv = new FeedServer(sim, SERVED, opts);
  await srv.listen('127.0.0.1', port);
  cleanups.push(() => srv.close());
  return { sim, srv };
}

function client(port: number, feedOverrides: Record<string, number> = {}) {
  const sink = logSink();
  const registry = new Registry();
  const config = quotesConfig({
    symbols: ['x'],
    feed: { enabled: true, port, reconnectInitialMs: 10, reconnectMaxMs: 80, ...feedOverrides },
  }).feed;
  const feed = new TcpQuoteFeed(config, { logger: sink.logger, registry, maxLineBytes: 8_192 + 64 });
  const got: { topic: string; code: string; id: number }[] = [];
  const keep = (topic: string) => (payload: string | Buffer, id: number) => {
    const env = JSON.parse(String(payload)) as { payload: { code: string } };
    got.push({ topic, code: env.payload.code, id });
  };
  feed.onTick(keep('tick'));
  feed.onBidAsk(keep('bidask'));
  cleanups.push(() => feed.close());
  return { feed, got, sink, registry };
}

describe('quote feed over TCP (FeedServer ↔ TcpQuoteFeed)', () => {
  it("delivers only the subscribed symbols and topics, with symbol ids in the client's own list", async () => {
    const port = await freePort();
    const { sim } = await server(port);
    const c = client(port);
    // A subset in another order, plus a symbol the server does not simulate.
    const mine = ['TXFL6', 'NOPE', '2330'];
    await c.feed.subscribe(mine, ['tick']);
    await waitFor('connected and subscribed', async () => {
      sim.emit(50);
      return c.got.length > 0;
    });
    sim.emit(2_000);
    await waitFor('quotes arrive', async () => c.got.length > 500);
    for (const q of c.got) {
      expect(q.topic).toBe('tick');
      expect(mine[q.id]).toBe(q.code);
    }
    expect(new Set(c.got.map((q) => q.code))).toEqual(new Set(['TXFL6', '2330']));
    expect(c.feed.malformedLines).toBe(0);
  });

  it('keeps the process up while the feed is absent, retries with capped backoff, and resumes when it is back', async () => {
    const port = await freePort();
    const c = client(port);
    await c.feed.subscribe(['2330'], ['tick', 'bidask']);
    await waitFor(
      'several refused attempts',
      async () => c.sink.lines.filter((l) => l.event === 'quote_feed_unreachable').length >= 5,
    );
    expect(c.feed.state).toBe('connecting');
    expect(await metricValue(c.registry, 'hft_quote_feed_connected')).toBe(0);
    const delays = c.sink.lines
      .filter((l) => l.event === 'quote_feed_unreachable')
      .map((l) => l.retry_in_ms as number);
    expect(delays.slice(0, 5)).toEqual([10, 20, 40, 80, 80]);

    const first = await server(port);
    await waitFor('connected', async () => c.feed.state === 'connected');
    await waitFor('quotes', async () => {
      first.sim.emit(20);
      return c.got.length > 0;
    });
    expect(await metricValue(c.registry, 'hft_quote_feed_connected')).toBe(1);

    // The server goes away mid-stream: lost, then back on the same port with a new process's stream.
    await first.srv.close();
    await waitFor('lost', async () => c.sink.lines.some((l) => l.event === 'quote_feed_lost'));
    const lost = c.sink.lines.find((l) => l.event === 'quote_feed_lost');
    expect(lost?.retry_in_ms).toBe(10); // backoff was reset by the successful connection
    const second = await server(port);
    const before = c.got.length;
    await waitFor('quotes after the reconnect', async () => {
      second.sim.emit(20);
      return c.got.length > before;
    });
    expect(await metricValue(c.registry, 'hft_quote_feed_connects_total')).toBe(2);
    expect(await metricValue(c.registry, 'hft_quote_feed_disconnects_total')).toBeGreaterThanOrEqual(6);
  });

  it('disconnects a consumer that stops reading instead of buffering without bound', async () => {
    const port = await freePort();
    const { sim, srv } = await server(port, { maxClientBufferBytes: 64 * 1024 });
    const socket = connect({ port, host: '127.0.0.1' });
    cleanups.push(async () => void socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('subscribe\t2330,2317\ttick,bidask\n');
    socket.pause();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await waitFor('slow consumer dropped', async () => {
      sim.emit(2_000);
      await turn();
      return srv.counters.slowConsumerDrops > 0;
    });
    await closed;
    expect(srv.counters.clients).toBe(0);
  });
});

describe('LineDecoder', () => {
  it('joins lines split across chunks and discards an unfinished line past the bound, counted', () => {
    const d = new LineDecoder(32);
    const got: [string, number][] = [];
    d.tick = (p, id) => got.push([String(p), id]);
    d.push(Buffer.from('tick\t1\t{"a"'));
    d.push(Buffer.from(':1}\ntick\t2\t'));
    d.push(Buffer.from('x'.repeat(40)));
    d.push(Buffer.from('y'.repeat(40)));
    d.push(Buffer.from('zz\nbogus line\ntick\t3\t{}\n'));
    expect(got).toEqual([
      ['{"a":1}', 1],
      ['{}', 3],
    ]);
    expect(d.malformedLines).toBe(2);
  });
});
