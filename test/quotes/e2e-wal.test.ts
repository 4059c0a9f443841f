import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { parseDecimal } from '../../src/contracts/scaled.js';
import { FeedSimulator, type SimQuote } from '../../src/quotes/feed-sim.js';
import { QuoteIngress } from '../../src/quotes/quote-ingress.js';
import { type FieldType, KIND_SPECS, type QuoteKind } from '../../src/quotes/quote-schema-v1.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { tempDir } from '../harness/process.js';
import { allRecords, readSegments, walConfig } from '../wal/wal-fixtures.js';
import { logSink, metricValue, quotesConfig } from './quote-fixtures.js';

const SYMBOLS = ['2330', '2317', '2454', '0050', 'TXFL6'];
const SEED = 20261124;

/**
 * What the WAL must hold for one simulated quote, computed independently of the quote workers: the
 * envelope parsed with JSON.parse and every decimal converted with the foundation's parseDecimal (the
 * workers use their own fast path).
 */
function expectedFields(sim: SimQuote): { kind: QuoteKind; code: string; fields: Record<string, unknown> } {
  const envelope = JSON.parse(sim.payload) as { kind: QuoteKind; payload: Record<string, unknown> };
  const spec = KIND_SPECS[envelope.kind];
  const fields: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(spec) as [string, FieldType][]) {
    const raw = envelope.payload[name];
    if (type === 'price' || type === 'signed_price') fields[name] = parseDecimal(raw as string, 4);
    else if (type === 'price5') fields[name] = (raw as string[]).map((p) => parseDecimal(p, 4));
    else fields[name] = raw;
  }
  return { kind: envelope.kind, code: envelope.payload.code as string, fields };
}

interface WalQuote {
  quote_version: string;
  kind: QuoteKind;
  code: string;
  datetime: string;
  recv_ts_ns: string;
  ingress_seq: number;
  fields: Record<string, unknown>;
}

async function pipeline(dir: string, queueCapacity: number) {
  const sink = logSink();
  const registry = new Registry();
  const writer = await WalWriter.open(walConfig(dir), { producerId: 'gw-q', logger: sink.logger, registry });
  const feed = new FeedSimulator({ seed: SEED, simtradePerMille: 50 });
  const ingress = new QuoteIngress(quotesConfig({ symbols: SYMBOLS, queueCapacity, drainBatchSize: 64 }), {
    feed,
    recorder: writer,
    logger: sink.logger,
    registry,
  });
  await ingress.start();
  return { writer, feed, ingress, registry, sink };
}

function walQuotes(dir: string): { topic: string; quote: WalQuote }[] {
  return allRecords(dir, 'gw-q').map((r) => ({ topic: r.topic, quote: JSON.parse(r.payload) as WalQuote }));
}

describe('simulated feed → quote ingress → real WAL segments and reference prices', () => {
  it('records every quote exactly (scaled integers), in ingress order, and keeps the last trade per symbol', async () => {
    const dir = tempDir('quotes-e2e');
    const { writer, feed, ingress, registry } = await pipeline(dir, 4_096);
    const wallBefore = systemClock.wallNs();
    // Bursts of varying size with event-loop turns in between, as a broker socket would deliver them.
    const sizes = [1, 7, 300, 2, 1_000, 64, 500, 126];
    for (const size of sizes) {
      feed.emit(size);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await ingress.idle();
    await writer.flush();
    await writer.close();
    const wallAfter = systemClock.wallNs();
    const total = sizes.reduce((a, b) => a + b, 0);

    const replay = new FeedSimulator({ seed: SEED, simtradePerMille: 50 });
    await replay.subscribe(SYMBOLS, ['tick', 'bidask']);
    const expected = replay.generate(total);

    const recorded = walQuotes(dir);
    expect(recorded).toHaveLength(total);
    recorded.forEach(({ topic, quote }, i) => {
      const want = expectedFields(expected[i] as SimQuote);
      expect(topic).toBe(expected[i]?.topic === 'tick' ? 'market.tick' : 'market.bidask');
      expect(quote.ingress_seq).toBe(i + 1);
      expect(quote.quote_version).toBe('v1');
      expect(quote.kind).toBe(want.kind);
      expect(quote.code).toBe(want.code);
      expect(quote.fields).toEqual(want.fields);
      const ts = BigInt(quote.recv_ts_ns);
      expect(ts >= wallBefore && ts <= wallAfter).toBe(true);
    });
    expect(new Set(recorded.map((r) => r.quote.kind))).toEqual(
      new Set(['stock_tick', 'stock_bidask', 'fop_tick']),
    );
    // Receive stamps never go backwards in ingress order.
    for (let i = 1; i < recorded.length; i++) {
      expect(
        BigInt(recorded[i]?.quote.recv_ts_ns as string) >=
          BigInt(recorded[i - 1]?.quote.recv_ts_ns as string),
      ).toBe(true);
    }
    // Both topics really landed in their own segment files.
    const topics = new Set(readSegments(dir, 'gw-q').map((s) => s.topic));
    expect(topics).toEqual(new Set(['market.tick', 'market.bidask']));

    // Reference price: the close of the last non-simulated trade of each symbol, exactly.
    const lastTrade = new Map<string, number>();
    for (const q of expected) {
      const want = expectedFields(q);
      if (want.kind !== 'stock_bidask' && want.fields.simtrade === false)
        lastTrade.set(want.code, want.fields.close as number);
    }
    expect(lastTrade.size).toBe(SYMBOLS.length);
    for (const symbol of SYMBOLS) {
      const ref = ingress.book.get(symbol);
      expect(ref?.price, symbol).toBe(lastTrade.get(symbol));
      expect(ingress.book.ageMs(symbol, systemClock.monoMs())).toBeGreaterThanOrEqual(0);
    }
    expect(await metricValue(registry, 'hft_quote_dropped_total')).toBe(0);
    expect(await metricValue(registry, 'hft_quote_schema_reject_total')).toBe(0);
    expect(await metricValue(registry, 'hft_quote_processed_total')).toBe(total);
    ingress.close();
  });

  it('under a burst past capacity (drop_oldest) the WAL holds exactly the surviving newest quotes', async () => {
    const dir = tempDir('quotes-e2e');
    const { writer, feed, ingress, registry } = await pipeline(dir, 256);
    feed.emit(1_000);
    await ingress.idle();
    await writer.flush();
    await writer.close();

    const replay = new FeedSimulator({ seed: SEED, simtradePerMille: 50 });
    await replay.subscribe(SYMBOLS, ['tick', 'bidask']);
    const expected = replay.generate(1_000).slice(1_000 - 256);
    const recorded = walQuotes(dir);
    expect(recorded.map((r) => r.quote.ingress_seq)).toEqual(Array.from({ length: 256 }, (_, i) => 745 + i));
    recorded.forEach(({ quote }, i) => {
      expect(quote.fields).toEqual(expectedFields(expected[i] as SimQuote).fields);
    });
    expect(await metricValue(registry, 'hft_quote_dropped_total', { policy: 'drop_oldest' })).toBe(744);
    expect(await metricValue(registry, 'hft_quote_dropped_by_symbol_total')).toBe(744);
    ingress.close();
  });
});

describe('feed simulator process → LineStreamFeed → quote ingress → real WAL', () => {
  it('records exactly the stream the simulator process wrote', async () => {
    const { spawnTs } = await import('../harness/process.js');
    const { LineStreamFeed } = await import('../../src/quotes/line-stream-feed.js');
    const dir = tempDir('quotes-e2e');
    const sink = logSink();
    const registry = new Registry();
    const writer = await WalWriter.open(walConfig(dir), {
      producerId: 'gw-q',
      logger: sink.logger,
      registry,
    });
    const count = 3_000;
    // The simulator's stdout is piped into a PassThrough the feed subscribes to before the child starts,
    // so no line can be emitted before a listener exists.
    const { PassThrough } = await import('node:stream');
    const pipe = new PassThrough();
    const feed = new LineStreamFeed(pipe);
    const ingress = new QuoteIngress(quotesConfig({ symbols: SYMBOLS }), {
      feed,
      recorder: writer,
      logger: sink.logger,
      registry,
    });
    await ingress.start();
    const args = ['--seed=11', `--symbols=${SYMBOLS.join(',')}`, `--count=${count}`];
    const child = spawnTs('src/quotes/feed-sim.ts', args);
    child.child.stdout?.pipe(pipe);
    expect(await child.exited()).toBe(0);
    await feed.ended();
    await ingress.idle();
    await writer.flush();
    await writer.close();

    const replay = new FeedSimulator({ seed: 11 });
    await replay.subscribe(SYMBOLS, ['tick', 'bidask']);
    const expected = replay.generate(count);
    const recorded = walQuotes(dir);
    expect(feed.malformedLines).toBe(0);
    expect(recorded).toHaveLength(count);
    recorded.forEach(({ quote }, i) => {
      expect(quote.ingress_seq).toBe(i + 1);
      expect(quote.fields).toEqual(expectedFields(expected[i] as SimQuote).fields);
    });
    expect(await metricValue(registry, 'hft_quote_dropped_by_symbol_total')).toBe(0);
    ingress.close();
  });
});
