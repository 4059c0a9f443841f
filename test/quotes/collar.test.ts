import { describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { riskSection } from '../../src/risk/config.js';
import { RiskEngine } from '../../src/risk/risk-engine.js';
import { newIntent } from '../fixtures/intents.js';
import { ManualClock, STOCK_BIDASK_PAYLOAD, envelope, startRig, stockTick } from './quote-fixtures.js';

/**
 * The quote path feeding the real price collar: the RiskEngine reads the ingress's ReferencePriceBook
 * through the ReferencePrices interface, with the same monotonic clock stamping the quotes.
 */
describe('reference prices from the quote path drive the price collar', () => {
  it('collars around the last trade, ignores bid/asks and simtrades, and goes stale when quotes stop', async () => {
    const clock = new ManualClock(10_000);
    const rig = await startRig({ symbols: ['2330'] }, { clock });
    const risk = new RiskEngine(
      riskSection.parse({ collarBps: 500, referenceMaxAgeMs: 5_000 }),
      rig.ingress.book,
      clock,
    );
    const check = (n: number, price: number) =>
      risk.check(IntentClient.envelope(newIntent(n, { price, qty: 1 })));

    expect(check(1, 5_800_000)).toMatchObject({ ok: false, reason: 'RISK_NO_REFERENCE' });
    rig.feed.tick(stockTick({ close: '580' }), 0);
    rig.feed.tick(stockTick({ close: '700', simtrade: true }), 0);
    rig.feed.bidAsk(envelope('stock_bidask', STOCK_BIDASK_PAYLOAD), 0);
    await rig.ingress.idle();
    expect(rig.recorder.records).toHaveLength(3);
    // ±5 % of 580.0000 is 551.0000 … 609.0000.
    expect(check(2, 6_090_000)).toEqual({ ok: true });
    expect(check(3, 6_090_001)).toMatchObject({ ok: false, reason: 'RISK_PRICE_COLLAR' });
    expect(check(4, 5_510_000)).toEqual({ ok: true });
    expect(check(5, 5_509_999)).toMatchObject({ ok: false, reason: 'RISK_PRICE_COLLAR' });

    clock.now += 5_000;
    expect(check(6, 5_800_000)).toEqual({ ok: true });
    clock.now += 1;
    expect(check(7, 5_800_000)).toMatchObject({ ok: false, reason: 'RISK_REFERENCE_STALE' });
    expect(rig.ingress.book.ageMs('2330', clock.monoMs())).toBe(5_001);

    rig.feed.tick(stockTick({ close: '600' }), 0);
    await rig.ingress.idle();
    expect(check(8, 6_300_000)).toEqual({ ok: true });
  });

  it('keeps reference prices for subscribed symbols only, however many codes the feed sends', async () => {
    const rig = await startRig({ symbols: ['2330'] });
    for (let i = 0; i < 100; i++) rig.feed.tick(stockTick({ code: `X${i}` }), -1);
    rig.feed.tick(stockTick(), 0);
    await rig.ingress.idle();
    expect(rig.ingress.book.size).toBe(1);
    expect(rig.ingress.book.get('2330')?.price).toBe(5_865_000);
    expect(rig.ingress.book.get('X7')).toBeUndefined();
  });
});
