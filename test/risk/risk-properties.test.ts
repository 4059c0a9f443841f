import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { CODES, type RejectReason } from '../../src/errors.js';
import { riskSection } from '../../src/risk/config.js';
import { RiskEngine } from '../../src/risk/risk-engine.js';
import { ManualClock, PriceTable, envelope } from './risk-fixtures.js';

const SYMBOLS = ['AAPL', 'MSFT', 'toString', '__proto__', 'X'];
const RISK_REASONS = (Object.keys(CODES) as (keyof typeof CODES)[]).filter((c) => c.startsWith('RISK_'));

const configArb = fc.record({
  defaults: fc.record({
    maxQty: fc.integer({ min: 1, max: 10_000 }),
    maxNotional: fc.integer({ min: 1, max: 2 ** 40 }),
  }),
  symbols: fc.dictionary(
    fc.constantFrom(...SYMBOLS),
    fc.record({ maxQty: fc.integer({ min: 1, max: 10_000 }) }, { requiredKeys: [] }),
  ),
  collarBps: fc.integer({ min: 0, max: 20_000 }),
  referenceMaxAgeMs: fc.integer({ min: 1, max: 10_000 }),
  rejectWithoutReference: fc.boolean(),
  throttle: fc.record({
    perStrategy: fc.record({
      ratePerSec: fc.integer({ min: 1, max: 100 }),
      burst: fc.integer({ min: 1, max: 20 }),
    }),
    global: fc.record({
      ratePerSec: fc.integer({ min: 1, max: 200 }),
      burst: fc.integer({ min: 1, max: 40 }),
    }),
    maxStrategies: fc.integer({ min: 1, max: 4 }),
  }),
  allowedSymbols: fc.option(fc.subarray(SYMBOLS), { nil: undefined }),
});

/** Any value at all where the engine reads a number: it must still answer, never throw. */
const wildNumber = fc.oneof(
  fc.integer({ min: -10, max: 20_000 }),
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, Number.MAX_SAFE_INTEGER, 2 ** 60),
  fc.bigInt().map((b) => b as unknown as number),
  fc.anything() as fc.Arbitrary<number>,
);

const intentArb = fc.record({
  kind: fc.constantFrom('NEW', 'REPLACE', 'CANCEL') as fc.Arbitrary<IntentEnvelope['kind']>,
  strategy_id: fc.constantFrom('s1', 's2', 's3', 's4', 's5', 'constructor'),
  symbol: fc.constantFrom(...SYMBOLS, 'ZZZ'),
  qty: wildNumber,
  price: wildNumber,
});

const stepArb = fc.record({ intent: intentArb, advanceMs: fc.integer({ min: 0, max: 300 }) });

const priceArb = fc.record({
  symbol: fc.constantFrom(...SYMBOLS),
  price: wildNumber,
  ageMs: fc.integer({ min: -100, max: 20_000 }),
});

describe('RiskEngine properties', () => {
  it('never throws and only answers with RISK_* reasons, for any config, prices and intents', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.array(priceArb, { maxLength: 6 }),
        fc.array(stepArb, { maxLength: 40 }),
        (cfg, ps, steps) => {
          const clock = new ManualClock();
          const prices = new PriceTable(clock);
          for (const p of ps) prices.set(p.symbol, p.price, p.ageMs);
          const engine = new RiskEngine(riskSection.parse(cfg), prices, clock);
          for (const step of steps) {
            clock.advance(step.advanceMs);
            const verdict = engine.check(envelope(step.intent));
            if (!verdict.ok) {
              expect(RISK_REASONS).toContain(verdict.reason);
              expect(typeof verdict.detail).toBe('string');
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('always passes cancels, whatever the config, prices, clock and prior traffic', () => {
    fc.assert(
      fc.property(configArb, fc.array(stepArb, { maxLength: 40 }), intentArb, (cfg, steps, cancel) => {
        const clock = new ManualClock();
        const engine = new RiskEngine(riskSection.parse(cfg), new PriceTable(clock), clock);
        for (const step of steps) engine.check(envelope(step.intent));
        expect(engine.check(envelope({ ...cancel, kind: 'CANCEL' }))).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  it('accepts only intents inside every limit (soundness of an ok verdict)', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.integer({ min: 1, max: 2_000_000 }),
        fc.array(
          fc.record({
            qty: fc.integer({ min: 1, max: 20_000 }),
            price: fc.integer({ min: 1, max: 4_000_000 }),
          }),
          { maxLength: 30 },
        ),
        (cfg, refPrice, orders) => {
          const config = riskSection.parse(cfg);
          const clock = new ManualClock();
          const prices = new PriceTable(clock);
          prices.set('AAPL', refPrice);
          const engine = new RiskEngine(config, prices, clock);
          for (const o of orders) {
            const verdict = engine.check(envelope({ symbol: 'AAPL', ...o }));
            if (!verdict.ok) continue;
            const maxQty = config.symbols.AAPL?.maxQty ?? config.defaults.maxQty;
            expect(o.qty).toBeLessThanOrEqual(maxQty);
            expect(BigInt(o.qty) * BigInt(o.price)).toBeLessThanOrEqual(BigInt(config.defaults.maxNotional));
            const distance = BigInt(Math.abs(o.price - refPrice));
            expect(distance * 10_000n).toBeLessThanOrEqual(BigInt(refPrice) * BigInt(config.collarBps));
            if (config.allowedSymbols) expect(config.allowedSymbols).toContain('AAPL');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never accepts more per strategy than burst + rate × elapsed seconds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 200 }),
        (rate, burst, gaps) => {
          const clock = new ManualClock();
          const prices = new PriceTable(clock);
          const config = riskSection.parse({
            rejectWithoutReference: false,
            throttle: {
              perStrategy: { ratePerSec: rate, burst },
              global: { ratePerSec: 1_000_000, burst: 1_000_000 },
            },
          });
          const engine = new RiskEngine(config, prices, clock);
          let accepted = 0;
          let elapsed = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            elapsed += gap;
            if (engine.check(envelope()).ok) accepted += 1;
            // tokens = burst + floor(rate × elapsed_ms / 1000), in integers.
            expect(accepted * 1000).toBeLessThanOrEqual(burst * 1000 + rate * elapsed);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('can reach every RISK_* reject reason in the catalogue', () => {
    const clock = new ManualClock();
    const prices = new PriceTable(clock);
    prices.set('AAPL', 1_000_000);
    prices.set('OLD', 1_000_000, 60_000);
    const engine = () =>
      new RiskEngine(
        riskSection.parse({
          allowedSymbols: ['AAPL', 'OLD', 'NOREF'],
          defaults: { maxQty: 100, maxNotional: 50_000_000 },
          collarBps: 100,
          throttle: { perStrategy: { ratePerSec: 1, burst: 1 }, global: { ratePerSec: 1, burst: 2 } },
        }),
        prices,
        clock,
      );
    const scenarios: Record<RejectReason & `RISK_${string}`, (e: RiskEngine) => unknown> = {
      RISK_SYMBOL_NOT_ALLOWED: (e) => e.check(envelope({ symbol: 'MSFT' })),
      RISK_MAX_QTY: (e) => e.check(envelope({ qty: 101 })),
      RISK_MAX_NOTIONAL: (e) => e.check(envelope({ qty: 51 })),
      RISK_NO_REFERENCE: (e) => e.check(envelope({ symbol: 'NOREF', qty: 1 })),
      RISK_REFERENCE_STALE: (e) => e.check(envelope({ symbol: 'OLD', qty: 1 })),
      RISK_PRICE_COLLAR: (e) => e.check(envelope({ qty: 1, price: 1_020_000 })),
      RISK_THROTTLE_STRATEGY: (e) => {
        e.check(envelope({ qty: 1 }));
        return e.check(envelope({ qty: 1 }));
      },
      RISK_THROTTLE_GLOBAL: (e) => {
        e.check(envelope({ qty: 1, strategy_id: 'a' }));
        e.check(envelope({ qty: 1, strategy_id: 'b' }));
        return e.check(envelope({ qty: 1, strategy_id: 'c' }));
      },
    };
    expect(Object.keys(scenarios).sort()).toEqual([...RISK_REASONS].sort());
    for (const [reason, run] of Object.entries(scenarios)) {
      expect(run(engine()), reason).toMatchObject({ ok: false, reason });
    }
  });
});
