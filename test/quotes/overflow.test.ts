import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../src/errors.js';
import type { NormalizedQuote } from '../../src/quotes/quote-schema-v1.js';
import {
  STOCK_BIDASK_PAYLOAD,
  envelope,
  errorCode,
  metricValue,
  startRig,
  stockTick,
} from './quote-fixtures.js';

const CAPACITY = 16;
const SYMBOLS = ['2330', '2317'];

/** Tick number i for symbol id `symbolId`: its close price is 100 + i, so every quote is identifiable. */
const tickFor = (i: number, symbolId: number) =>
  stockTick({ code: SYMBOLS[symbolId], close: String(100 + i) });
const bidAskFor = (symbolId: number) =>
  envelope('stock_bidask', { ...STOCK_BIDASK_PAYLOAD, code: SYMBOLS[symbolId] });

async function stalledRig(policy: 'drop_oldest' | 'drop_newest' | 'halt') {
  const rig = await startRig(
    { queueCapacity: CAPACITY, overflowPolicy: policy, symbols: SYMBOLS, drainBatchSize: 4 },
    { manual: true },
  );
  const scheduler = rig.scheduler as NonNullable<typeof rig.scheduler>;
  /** Fills the ring with 16 ticks (i = 1..16, symbol 2330), then 3 ticks of 2317 and 2 bid/asks of 2317. */
  const overfill = () => {
    const returned: unknown[] = [];
    for (let i = 1; i <= CAPACITY; i++) returned.push(rig.feed.tick(tickFor(i, 0), 0));
    for (let i = 17; i <= 19; i++) returned.push(rig.feed.tick(tickFor(i, 1), 1));
    returned.push(rig.feed.bidAsk(bidAskFor(1), 1));
    returned.push(rig.feed.bidAsk(bidAskFor(1), 1));
    return returned;
  };
  const closes = () =>
    rig.recorder.records
      .filter((r) => r.topic === 'market.tick')
      .map((r) => (r.payload as NormalizedQuote).fields.close);
  const seqs = () => rig.recorder.records.map((r) => (r.payload as NormalizedQuote).ingress_seq);
  const dropped = (topic: string) => metricValue(rig.registry, 'hft_quote_dropped_total', { topic, policy });
  const droppedSymbol = (symbol: string) =>
    metricValue(rig.registry, 'hft_quote_dropped_by_symbol_total', { symbol });
  return { ...rig, scheduler, overfill, closes, seqs, dropped, droppedSymbol };
}

describe('quote queue overflow with a stalled worker', () => {
  it('callbacks only enqueue: nothing is parsed, recorded or published inside them, one worker turn is scheduled', async () => {
    const rig = await stalledRig('drop_oldest');
    let published = 0;
    rig.ingress.publisher.subscribe(() => published++);
    rig.feed.tick('this is not JSON', 0);
    rig.feed.tick(tickFor(1, 0), 0);
    expect(rig.recorder.records).toEqual([]);
    expect(published).toBe(0);
    expect(await metricValue(rig.registry, 'hft_quote_schema_reject_total')).toBe(0);
    expect(rig.scheduler.scheduled).toBe(1);
    expect(rig.ingress.ring.depth).toBe(2);
    rig.scheduler.runAll();
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason: 'QUOTE_NOT_JSON' }),
    ).toBe(1);
    expect(published).toBe(1);
    expect(rig.recorder.records).toHaveLength(1);
  });

  it('drop_oldest evicts the oldest queued quotes, counts them per topic and symbol, and keeps the newest', async () => {
    const rig = await stalledRig('drop_oldest');
    const returned = rig.overfill();
    expect(returned.every((r) => r === undefined)).toBe(true);
    expect(rig.recorder.records).toEqual([]);
    expect(rig.scheduler.scheduled).toBe(1);
    expect(rig.ingress.ring.depth).toBe(CAPACITY);
    // The five arrivals past capacity evicted ticks 1..5, all of symbol 2330.
    expect(await rig.dropped('tick')).toBe(5);
    expect(await rig.dropped('bidask')).toBe(0);
    expect(await rig.droppedSymbol('2330')).toBe(5);
    expect(await rig.droppedSymbol('2317')).toBe(0);
    expect(await metricValue(rig.registry, 'hft_quote_enqueued_total', { topic: 'tick' })).toBe(19);
    expect(await metricValue(rig.registry, 'hft_quote_enqueued_total', { topic: 'bidask' })).toBe(2);
    expect(await metricValue(rig.registry, 'hft_quote_queue_depth')).toBe(CAPACITY);

    const turns = rig.scheduler.runAll();
    expect(turns).toBe(CAPACITY / 4);
    expect(rig.seqs()).toEqual(Array.from({ length: CAPACITY }, (_, i) => i + 6));
    expect(rig.closes()).toEqual(Array.from({ length: 14 }, (_, i) => (106 + i) * 10_000));
    expect(rig.ingress.book.get('2330')?.price).toBe(116 * 10_000);
    expect(rig.ingress.book.get('2317')?.price).toBe(119 * 10_000);
    expect(rig.ingress.ring.halted).toBe(false);
  });

  it('drop_newest refuses arrivals while full, counts them per topic and symbol, and keeps what was queued', async () => {
    const rig = await stalledRig('drop_newest');
    const returned = rig.overfill();
    expect(returned.every((r) => r === undefined)).toBe(true);
    expect(rig.recorder.records).toEqual([]);
    expect(await rig.dropped('tick')).toBe(3);
    expect(await rig.dropped('bidask')).toBe(2);
    expect(await rig.droppedSymbol('2317')).toBe(5);
    expect(await rig.droppedSymbol('2330')).toBe(0);
    rig.scheduler.runAll();
    expect(rig.seqs()).toEqual(Array.from({ length: CAPACITY }, (_, i) => i + 1));
    expect(rig.closes()).toEqual(Array.from({ length: CAPACITY }, (_, i) => (101 + i) * 10_000));
    expect(rig.ingress.book.get('2330')?.price).toBe(116 * 10_000);
    expect(rig.ingress.book.get('2317')).toBeUndefined();
    // Room again: the next arrival is queued.
    rig.feed.tick(tickFor(50, 1), 1);
    rig.scheduler.runAll();
    expect(rig.ingress.book.get('2317')?.price).toBe(150 * 10_000);
  });

  it('halt latches on the first refused push, surfaces GW_ERR_QUOTE_QUEUE_HALTED once, and refuses until resume()', async () => {
    const rig = await stalledRig('halt');
    const halts: GatewayError[] = [];
    rig.ingress.onHalt((err) => halts.push(err));
    const returned = rig.overfill();
    expect(returned.every((r) => r === undefined)).toBe(true);
    expect(rig.ingress.ring.halted).toBe(true);
    expect(errorCode(() => rig.ingress.assertFlowing())).toBe('GW_ERR_QUOTE_QUEUE_HALTED');
    expect(await rig.dropped('tick')).toBe(3);
    expect(await rig.dropped('bidask')).toBe(2);
    expect(await metricValue(rig.registry, 'hft_quote_queue_halted')).toBe(1);
    // Reported off the callback path, on the next turn of the event loop, and only once.
    expect(halts).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(halts.map((e) => e.code)).toEqual(['GW_ERR_QUOTE_QUEUE_HALTED']);
    const haltLogs = rig.sink.lines.filter((l) => l.event === 'quote_queue_halted');
    expect(haltLogs).toHaveLength(1);
    expect(haltLogs[0]).toMatchObject({
      level: 'error',
      component: 'quotes',
      err: { code: 'GW_ERR_QUOTE_QUEUE_HALTED' },
    });

    // What was queued before the halt still drains; the queue stays halted though it is empty.
    rig.scheduler.runAll();
    expect(rig.seqs()).toEqual(Array.from({ length: CAPACITY }, (_, i) => i + 1));
    rig.feed.tick(tickFor(60, 1), 1);
    expect(rig.ingress.ring.depth).toBe(0);
    expect(await rig.dropped('tick')).toBe(4);
    expect(await rig.droppedSymbol('2317')).toBe(6);

    rig.ingress.resume();
    expect(await metricValue(rig.registry, 'hft_quote_queue_halted')).toBe(0);
    expect(errorCode(() => rig.ingress.assertFlowing())).toBe('none');
    rig.feed.tick(tickFor(61, 1), 1);
    rig.scheduler.runAll();
    expect(rig.ingress.book.get('2317')?.price).toBe(161 * 10_000);
    expect(rig.sink.lines.some((l) => l.event === 'quote_queue_resumed')).toBe(true);
  });

  it('a quote from a feed that gives no symbol id is counted under symbol "unknown" when dropped', async () => {
    const rig = await stalledRig('drop_newest');
    for (let i = 0; i < CAPACITY; i++) rig.feed.tick(tickFor(i, 0), 0);
    rig.feed.tick(tickFor(99, 0), -1);
    rig.feed.tick(tickFor(99, 0), 7);
    expect(await rig.droppedSymbol('unknown')).toBe(2);
  });

  it('with the real scheduler, a burst far beyond capacity is absorbed by drop_oldest and the newest quotes win', async () => {
    const rig = await startRig({ queueCapacity: CAPACITY, symbols: SYMBOLS, drainBatchSize: 8 });
    for (let i = 1; i <= 1_000; i++) rig.feed.tick(tickFor(i, i % 2), i % 2);
    await rig.ingress.idle();
    expect(rig.recorder.records).toHaveLength(CAPACITY);
    expect(
      await metricValue(rig.registry, 'hft_quote_dropped_total', { topic: 'tick', policy: 'drop_oldest' }),
    ).toBe(1_000 - CAPACITY);
    expect(rig.ingress.book.get('2330')?.price).toBe(1_100 * 10_000);
    expect(rig.ingress.book.get('2317')?.price).toBe(1_099 * 10_000);
  });
});
