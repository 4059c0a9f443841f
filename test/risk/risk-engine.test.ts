import { describe, expect, it } from 'vitest';
import { MAX_SCALED } from '../../src/contracts/scaled.js';
import { riskSection } from '../../src/risk/config.js';
import { RiskEngine } from '../../src/risk/risk-engine.js';
import { ManualClock, PriceTable, envelope, makeEngine } from './risk-fixtures.js';

const TARGET = 'ABCDEFGHIJKLMNOPQRST';

describe('RiskEngine rules', () => {
  it('accepts an intent within every limit', () => {
    const { engine } = makeEngine();
    expect(engine.check(envelope())).toEqual({ ok: true });
  });

  describe('symbol allow-list', () => {
    it('rejects a symbol that is not on the list', () => {
      const { engine } = makeEngine({ allowedSymbols: ['MSFT'] });
      expect(engine.check(envelope())).toMatchObject({ ok: false, reason: 'RISK_SYMBOL_NOT_ALLOWED' });
    });
    it('accepts a listed symbol, and any symbol when no list is configured', () => {
      expect(makeEngine({ allowedSymbols: ['AAPL'] }).engine.check(envelope())).toEqual({ ok: true });
      expect(makeEngine().engine.check(envelope())).toEqual({ ok: true });
    });
    it('does not treat Object.prototype member names as configured symbols', () => {
      const { engine, prices } = makeEngine({ allowedSymbols: ['AAPL'], defaults: { maxQty: 10 } });
      prices.set('constructor', 1_000_000);
      expect(engine.check(envelope({ symbol: 'constructor', qty: 5 }))).toMatchObject({
        reason: 'RISK_SYMBOL_NOT_ALLOWED',
      });
    });
  });

  describe('max quantity', () => {
    it('rejects above the default and accepts at it', () => {
      const { engine } = makeEngine({ defaults: { maxQty: 100 } });
      expect(engine.check(envelope({ qty: 100 }))).toEqual({ ok: true });
      expect(engine.check(envelope({ qty: 101 }))).toMatchObject({ ok: false, reason: 'RISK_MAX_QTY' });
    });
    it('applies a per-symbol override before the default', () => {
      const { engine, prices } = makeEngine({
        defaults: { maxQty: 1_000 },
        symbols: { AAPL: { maxQty: 10 } },
      });
      prices.set('MSFT', 1_000_000);
      expect(engine.check(envelope({ qty: 11 }))).toMatchObject({ reason: 'RISK_MAX_QTY' });
      expect(engine.check(envelope({ symbol: 'MSFT', qty: 11 }))).toEqual({ ok: true });
    });
  });

  describe('max notional', () => {
    it('rejects price × qty above the limit, exactly at the boundary', () => {
      const { engine } = makeEngine({ defaults: { maxNotional: 100 * 1_000_000 } });
      expect(engine.check(envelope({ qty: 100, price: 1_000_000 }))).toEqual({ ok: true });
      expect(engine.check(envelope({ qty: 100, price: 1_000_001 }))).toMatchObject({
        reason: 'RISK_MAX_NOTIONAL',
      });
    });
    it('computes notional beyond 2^53 exactly instead of overflowing', () => {
      const { engine, prices } = makeEngine({
        defaults: { maxQty: MAX_SCALED, maxNotional: MAX_SCALED },
        collarBps: 1_000_000,
      });
      prices.set('AAPL', MAX_SCALED);
      expect(engine.check(envelope({ qty: 2, price: MAX_SCALED }))).toMatchObject({
        reason: 'RISK_MAX_NOTIONAL',
      });
    });
    it('uses the per-symbol notional override', () => {
      const { engine } = makeEngine({ symbols: { AAPL: { maxNotional: 999_999 } } });
      expect(engine.check(envelope({ qty: 1, price: 1_000_000 }))).toMatchObject({
        reason: 'RISK_MAX_NOTIONAL',
      });
    });
  });

  describe('reference price and collar', () => {
    it('rejects without a reference when configured to (the default)', () => {
      const { engine } = makeEngine();
      expect(engine.check(envelope({ symbol: 'MSFT' }))).toMatchObject({ reason: 'RISK_NO_REFERENCE' });
    });
    it('skips the collar without a reference when rejectWithoutReference is false', () => {
      const { engine } = makeEngine({ rejectWithoutReference: false });
      expect(engine.check(envelope({ symbol: 'MSFT', price: 1 }))).toEqual({ ok: true });
    });
    it('rejects a reference older than the staleness bound, accepts one exactly at it', () => {
      const { engine, prices } = makeEngine({ referenceMaxAgeMs: 500 });
      prices.set('AAPL', 1_000_000, 500);
      expect(engine.check(envelope())).toEqual({ ok: true });
      prices.set('AAPL', 1_000_000, 501);
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_REFERENCE_STALE' });
    });
    it('ages the reference with the monotonic clock', () => {
      const { engine, clock } = makeEngine({ referenceMaxAgeMs: 1_000 });
      expect(engine.check(envelope())).toEqual({ ok: true });
      clock.advance(1_001);
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_REFERENCE_STALE' });
    });
    it('accepts prices on the collar edge and rejects one tick outside, on both sides', () => {
      // ±100 bps around 1 000 000 → [990 000, 1 010 000].
      const { engine } = makeEngine({ collarBps: 100 });
      expect(engine.check(envelope({ price: 1_010_000 }))).toEqual({ ok: true });
      expect(engine.check(envelope({ price: 990_000 }))).toEqual({ ok: true });
      expect(engine.check(envelope({ price: 1_010_001 }))).toMatchObject({ reason: 'RISK_PRICE_COLLAR' });
      expect(engine.check(envelope({ price: 989_999 }))).toMatchObject({ reason: 'RISK_PRICE_COLLAR' });
    });
    it('with a zero collar accepts only the reference price itself', () => {
      const { engine } = makeEngine({ collarBps: 0 });
      expect(engine.check(envelope({ price: 1_000_000 }))).toEqual({ ok: true });
      expect(engine.check(envelope({ price: 1_000_001 }))).toMatchObject({ reason: 'RISK_PRICE_COLLAR' });
    });
  });

  describe('throttles', () => {
    function throttled(perStrategy: [number, number], global: [number, number]) {
      const clock = new ManualClock();
      const prices = new PriceTable(clock);
      prices.set('AAPL', 1_000_000);
      // Prices never go stale in these tests: the throttle is what is under test.
      const config = riskSection.parse({
        referenceMaxAgeMs: 86_400_000,
        throttle: {
          perStrategy: { ratePerSec: perStrategy[0], burst: perStrategy[1] },
          global: { ratePerSec: global[0], burst: global[1] },
        },
      });
      return { engine: new RiskEngine(config, prices, clock), clock, prices };
    }

    it('allows a burst per strategy, then throttles, then refills at the rate', () => {
      const { engine, clock } = throttled([10, 3], [1_000, 1_000]);
      for (let i = 0; i < 3; i++) expect(engine.check(envelope())).toEqual({ ok: true });
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
      clock.advance(99); // 10/s = one token per 100 ms: 99 ms is 0.99 of a token
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
      clock.advance(1);
      expect(engine.check(envelope())).toEqual({ ok: true });
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
    });

    it('keeps strategies independent', () => {
      const { engine } = throttled([1, 1], [1_000, 1_000]);
      expect(engine.check(envelope())).toEqual({ ok: true });
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
      expect(engine.check(envelope({ strategy_id: 'strat-b' }))).toEqual({ ok: true });
    });

    it('throttles globally across strategies', () => {
      const { engine, clock } = throttled([1_000, 1_000], [2, 2]);
      expect(engine.check(envelope({ strategy_id: 's1' }))).toEqual({ ok: true });
      expect(engine.check(envelope({ strategy_id: 's2' }))).toEqual({ ok: true });
      expect(engine.check(envelope({ strategy_id: 's3' }))).toMatchObject({ reason: 'RISK_THROTTLE_GLOBAL' });
      clock.advance(500);
      expect(engine.check(envelope({ strategy_id: 's3' }))).toEqual({ ok: true });
    });

    it('does not spend a strategy token on an intent the global bucket rejects', () => {
      const { engine, clock } = throttled([1, 1], [1, 1]);
      expect(engine.check(envelope({ strategy_id: 'a' }))).toEqual({ ok: true });
      expect(engine.check(envelope({ strategy_id: 'b' }))).toMatchObject({ reason: 'RISK_THROTTLE_GLOBAL' });
      clock.advance(1_000);
      // b's own bucket is still full: the global reject above did not take from it.
      expect(engine.check(envelope({ strategy_id: 'b' }))).toEqual({ ok: true });
    });

    it('does not spend tokens on an intent another rule rejects', () => {
      const { engine } = throttled([1, 1], [1, 1]);
      expect(engine.check(envelope({ price: 1 }))).toMatchObject({ reason: 'RISK_PRICE_COLLAR' });
      expect(engine.check(envelope())).toEqual({ ok: true });
    });

    it('never refills above the burst, however long the idle gap', () => {
      const { engine, clock, prices } = throttled([1_000, 2], [1_000_000, 1_000_000]);
      clock.advance(10_000_000_000);
      prices.set('AAPL', 1_000_000);
      expect(engine.check(envelope())).toEqual({ ok: true });
      expect(engine.check(envelope())).toEqual({ ok: true });
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
    });

    it('refills nothing when the clock steps backwards', () => {
      const { engine, clock } = throttled([1, 1], [1_000, 1_000]);
      expect(engine.check(envelope())).toEqual({ ok: true });
      clock.advance(-5_000);
      expect(engine.check(envelope())).toMatchObject({ reason: 'RISK_THROTTLE_STRATEGY' });
    });

    it('bounds tracked strategies: drops full buckets first, else throttles the newcomer', () => {
      const clock = new ManualClock();
      const prices = new PriceTable(clock);
      prices.set('AAPL', 1_000_000);
      const config = riskSection.parse({
        referenceMaxAgeMs: 86_400_000,
        throttle: { perStrategy: { ratePerSec: 1, burst: 1 }, maxStrategies: 2 },
      });
      const engine = new RiskEngine(config, prices, clock);
      expect(engine.check(envelope({ strategy_id: 'a' }))).toEqual({ ok: true });
      expect(engine.check(envelope({ strategy_id: 'b' }))).toEqual({ ok: true });
      expect(engine.check(envelope({ strategy_id: 'c' }))).toMatchObject({
        reason: 'RISK_THROTTLE_STRATEGY',
        detail: expect.stringContaining('strategies are active'),
      });
      expect(engine.trackedStrategies()).toBe(2);
      clock.advance(1_000); // a and b refill to full: forgetting them is harmless
      expect(engine.check(envelope({ strategy_id: 'c' }))).toEqual({ ok: true });
      expect(engine.trackedStrategies()).toBeLessThanOrEqual(2);
    });
  });

  describe('cancels', () => {
    it('pass every rule, even with all limits exhausted and no reference', () => {
      const { engine } = makeEngine({
        allowedSymbols: ['MSFT'],
        defaults: { maxQty: 1, maxNotional: 1 },
        throttle: { perStrategy: { ratePerSec: 1, burst: 1 }, global: { ratePerSec: 1, burst: 1 } },
      });
      const cancel = envelope({
        kind: 'CANCEL',
        qty: 0,
        price: 0,
        symbol: 'NOPE',
        target_client_order_id: TARGET,
      });
      for (let i = 0; i < 10; i++) expect(engine.check(cancel)).toEqual({ ok: true });
    });
    it('do not consume throttle tokens', () => {
      const clock = new ManualClock();
      const prices = new PriceTable(clock);
      prices.set('AAPL', 1_000_000);
      const engine = new RiskEngine(
        riskSection.parse({ throttle: { perStrategy: { ratePerSec: 1, burst: 1 } } }),
        prices,
        clock,
      );
      const cancel = envelope({ kind: 'CANCEL', qty: 0, price: 0, target_client_order_id: TARGET });
      for (let i = 0; i < 5; i++) engine.check(cancel);
      expect(engine.check(envelope())).toEqual({ ok: true });
    });
  });

  it('checks REPLACE intents like NEW ones', () => {
    const { engine } = makeEngine({ defaults: { maxQty: 10 } });
    expect(
      engine.check(envelope({ kind: 'REPLACE', qty: 11, target_client_order_id: TARGET })),
    ).toMatchObject({
      reason: 'RISK_MAX_QTY',
    });
  });

  it('reports the first failing rule in the documented order', () => {
    const { engine } = makeEngine({ allowedSymbols: ['MSFT'], defaults: { maxQty: 1 } });
    // Breaks allow-list, qty, notional and collar at once: allow-list wins.
    expect(engine.check(envelope({ qty: 1_000, price: 1 }))).toMatchObject({
      reason: 'RISK_SYMBOL_NOT_ALLOWED',
    });
  });

  it('rejects config with unknown keys or non-integer limits', () => {
    expect(() => riskSection.parse({ maxQty: 1 })).toThrow();
    expect(() => riskSection.parse({ collarBps: 1.5 })).toThrow();
    expect(() => riskSection.parse({ symbols: { AAPL: { maxQty: 1, typo: 2 } } })).toThrow();
    expect(() => riskSection.parse({ throttle: { global: { ratePerSec: 0 } } })).toThrow();
  });
});
