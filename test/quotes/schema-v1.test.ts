import { describe, expect, it } from 'vitest';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import {
  FOP_TICK_PAYLOAD,
  ManualClock,
  STOCK_BIDASK_PAYLOAD,
  STOCK_TICK_PAYLOAD,
  envelope,
  metricValue,
  startRig,
  stockTick,
} from './quote-fixtures.js';

const strict = new QuoteValidator({ maxPayloadBytes: 4_096, acceptVersions: [], acceptUnknownFields: false });
const { close: _close, ...tickWithoutClose } = STOCK_TICK_PAYLOAD;

describe('quote schema v1 normalization', () => {
  it('normalizes a stock tick: decimals to exact scaled integers, integers and flags as they are', () => {
    const v = strict.validate(stockTick(), 'tick', '1764000000000000001', 7);
    expect(v).toEqual({
      ok: true,
      override: null,
      quote: {
        quote_version: 'v1',
        kind: 'stock_tick',
        code: '2330',
        datetime: '2026-11-24T09:00:01.250000',
        recv_ts_ns: '1764000000000000001',
        ingress_seq: 7,
        fields: {
          ...STOCK_TICK_PAYLOAD,
          open: 5_850_000,
          close: 5_865_000,
          high: 5_870_000,
          low: 5_845_000,
          avg_price: 5_857_731,
          amount: 17_595_000,
          total_amount: 1_234_567_892_500,
          price_chg: 15_000,
          pct_chg: 2_600,
        },
      },
    });
  });

  it('normalizes a stock bid/ask: five levels each, diffs signed', () => {
    const v = strict.validate(Buffer.from(envelope('stock_bidask', STOCK_BIDASK_PAYLOAD)), 'bidask', '1', 1);
    expect(v.ok && v.quote.fields).toEqual({
      ...STOCK_BIDASK_PAYLOAD,
      bid_price: [5_860_000, 5_855_000, 5_850_000, 5_845_000, 5_840_000],
      ask_price: [5_865_000, 5_870_000, 5_875_000, 5_880_000, 5_885_000],
    });
  });

  it('normalizes a futures tick with a negative change', () => {
    const v = strict.validate(envelope('fop_tick', FOP_TICK_PAYLOAD), 'tick', '1', 1);
    expect(v.ok && v.quote.fields).toMatchObject({
      underlying_price: 220_934_700,
      avg_price: 221_053_125,
      close: 221_110_000,
      price_chg: -190_000,
      pct_chg: -900,
      total_amount: 716_380_000_000,
    });
  });
});

/** Each injected mismatch, the reason it must be rejected with, and the field named. */
const MISMATCHES: [string, string | Buffer, 'tick' | 'bidask', string, string][] = [
  [
    'other version',
    JSON.stringify({ quote_version: 'v2', kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
    'tick',
    'QUOTE_VERSION',
    'quote_version',
  ],
  [
    'no version',
    JSON.stringify({ kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
    'tick',
    'QUOTE_VERSION',
    'quote_version',
  ],
  [
    'numeric version',
    JSON.stringify({ quote_version: 1, kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
    'tick',
    'QUOTE_VERSION',
    'quote_version',
  ],
  ['missing close', envelope('stock_tick', tickWithoutClose), 'tick', 'QUOTE_MISSING_FIELD', 'close'],
  [
    'missing payload',
    JSON.stringify({ quote_version: 'v1', kind: 'stock_tick' }),
    'tick',
    'QUOTE_MISSING_FIELD',
    'payload',
  ],
  ['unknown payload field', stockTick({ best_guess: '1' }), 'tick', 'QUOTE_UNKNOWN_FIELD', 'best_guess'],
  [
    'unknown envelope field',
    envelope('stock_tick', STOCK_TICK_PAYLOAD, { trace: 'x' }),
    'tick',
    'QUOTE_UNKNOWN_FIELD',
    'trace',
  ],
  ['float price', stockTick({ close: 586.5 }), 'tick', 'QUOTE_BAD_TYPE', 'close'],
  ['null price', stockTick({ close: null }), 'tick', 'QUOTE_BAD_TYPE', 'close'],
  ['too many places', stockTick({ close: '586.12345' }), 'tick', 'QUOTE_BAD_NUMBER', 'close'],
  ['exponent', stockTick({ high: '1e3' }), 'tick', 'QUOTE_BAD_NUMBER', 'high'],
  ['negative price', stockTick({ low: '-5' }), 'tick', 'QUOTE_BAD_NUMBER', 'low'],
  [
    'price past the safe bound',
    stockTick({ total_amount: '9999999999999999' }),
    'tick',
    'QUOTE_BAD_NUMBER',
    'total_amount',
  ],
  ['fractional volume', stockTick({ volume: 1.5 }), 'tick', 'QUOTE_BAD_NUMBER', 'volume'],
  ['string volume', stockTick({ volume: '3' }), 'tick', 'QUOTE_BAD_TYPE', 'volume'],
  ['tick_type out of range', stockTick({ tick_type: 7 }), 'tick', 'QUOTE_BAD_NUMBER', 'tick_type'],
  ['flag as string', stockTick({ simtrade: 'false' }), 'tick', 'QUOTE_BAD_TYPE', 'simtrade'],
  ['bad datetime', stockTick({ datetime: '24/11/2026 09:00' }), 'tick', 'QUOTE_BAD_TYPE', 'datetime'],
  [
    'four levels',
    envelope('stock_bidask', { ...STOCK_BIDASK_PAYLOAD, bid_price: ['1', '2', '3', '4'] }),
    'bidask',
    'QUOTE_BAD_TYPE',
    'bid_price',
  ],
  [
    'bad level',
    envelope('stock_bidask', { ...STOCK_BIDASK_PAYLOAD, ask_price: ['1', '2', 'x', '4', '5'] }),
    'bidask',
    'QUOTE_BAD_NUMBER',
    'ask_price',
  ],
  ['unknown kind', envelope('index_tick', STOCK_TICK_PAYLOAD), 'tick', 'QUOTE_BAD_TYPE', 'kind'],
  [
    'kind on the wrong callback',
    envelope('stock_bidask', STOCK_BIDASK_PAYLOAD),
    'tick',
    'QUOTE_BAD_TYPE',
    'kind',
  ],
  ['not JSON', '{"quote_version":"v1",', 'tick', 'QUOTE_NOT_JSON', ''],
  ['JSON array', '[1,2,3]', 'tick', 'QUOTE_NOT_JSON', ''],
  ['oversize string', stockTick({ code: '2330' }).padEnd(5_000, ' '), 'tick', 'QUOTE_OVERSIZE', ''],
  ['oversize bytes', Buffer.alloc(4_097, 0x20), 'bidask', 'QUOTE_OVERSIZE', ''],
  [
    'oversize only in UTF-8',
    `${stockTick()}${' '.repeat(100)}${'€'.repeat(1_300)}`,
    'tick',
    'QUOTE_OVERSIZE',
    '',
  ],
];

describe('mismatch injection (V-QUOTE-V1)', () => {
  it('rejects each mismatch with its reason, counts it, logs it, and valid quotes keep flowing', async () => {
    const rig = await startRig({
      symbols: ['2330'],
      maxPayloadBytes: 4_096,
      rejectLog: { maxPerInterval: 1_000 },
    });
    let next = 1;
    for (const [, raw, topic] of MISMATCHES) {
      (topic === 'tick' ? rig.feed.tick : rig.feed.bidAsk)(raw, 0);
      rig.feed.tick(stockTick({ close: String(500 + next++) }), 0);
    }
    await rig.ingress.idle();

    const expectedCounts = new Map<string, number>();
    for (const [, , , reason] of MISMATCHES)
      expectedCounts.set(reason, (expectedCounts.get(reason) ?? 0) + 1);
    for (const [reason, count] of expectedCounts) {
      expect(await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason }), reason).toBe(
        count,
      );
    }
    expect(await metricValue(rig.registry, 'hft_quote_schema_reject_total')).toBe(MISMATCHES.length);

    const logs = rig.sink.lines.filter((l) => l.event === 'quote_schema_reject');
    expect(logs.map((l) => [l.reason, l.field])).toEqual(
      MISMATCHES.map(([, , , reason, field]) => [reason, field]),
    );
    for (const log of logs) expect(log).toMatchObject({ level: 'warn', component: 'quotes', symbol: '2330' });
    expect(logs[0]).toMatchObject({ detail: 'got "v2"', topic: 'tick' });

    const closes = rig.recorder.records.map((r) => (r.payload as { fields: { close: number } }).fields.close);
    expect(closes).toEqual(MISMATCHES.map((_, i) => (501 + i) * 10_000));
    expect(rig.ingress.book.get('2330')?.price).toBe((500 + MISMATCHES.length) * 10_000);
    expect(await metricValue(rig.registry, 'hft_quote_processed_total', { kind: 'stock_tick' })).toBe(
      MISMATCHES.length,
    );
  });

  it('rate-limits reject logs in a storm: every reject counted, a bounded number logged, then one summary', async () => {
    const clock = new ManualClock();
    const rig = await startRig({ rejectLog: { maxPerInterval: 3, intervalMs: 10_000 } }, { clock });
    for (let i = 0; i < 50; i++) rig.feed.tick('{"quote_version":"v9"}', -1);
    await rig.ingress.idle();
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason: 'QUOTE_VERSION' }),
    ).toBe(50);
    expect(rig.sink.lines.filter((l) => l.event === 'quote_schema_reject')).toHaveLength(3);
    expect(await metricValue(rig.registry, 'hft_quote_reject_logs_suppressed_total')).toBe(47);

    clock.now += 10_000;
    rig.feed.tick('not json', -1);
    await rig.ingress.idle();
    const summaries = rig.sink.lines.filter((l) => l.event === 'quote_schema_reject_suppressed');
    expect(summaries).toEqual([expect.objectContaining({ suppressed: 47, level: 'warn' })]);
    expect(rig.sink.lines.filter((l) => l.event === 'quote_schema_reject')).toHaveLength(4);
    rig.ingress.close();
  });

  it('a WAL refusal is counted and the quote still reaches subscribers and the reference price', async () => {
    const rig = await startRig({ symbols: ['2330'] });
    const seen: string[] = [];
    rig.ingress.publisher.subscribe((q) => seen.push(q.code));
    const { GatewayError } = await import('../../src/errors.js');
    rig.recorder.failWith = new GatewayError('GW_ERR_WAL_HALTED', 'test');
    rig.feed.tick(stockTick({ close: '600' }), 0);
    await rig.ingress.idle();
    expect(
      await metricValue(rig.registry, 'hft_quote_wal_refused_total', { code: 'GW_ERR_WAL_HALTED' }),
    ).toBe(1);
    expect(seen).toEqual(['2330']);
    expect(rig.ingress.book.get('2330')?.price).toBe(6_000_000);
  });

  it('simulated trades never move the reference price', async () => {
    const rig = await startRig({ symbols: ['2330'] });
    rig.feed.tick(stockTick({ close: '600' }), 0);
    rig.feed.tick(stockTick({ close: '650', simtrade: true }), 0);
    await rig.ingress.idle();
    expect(rig.recorder.records).toHaveLength(2);
    expect(rig.ingress.book.get('2330')?.price).toBe(6_000_000);
  });
});
