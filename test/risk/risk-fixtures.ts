import type { Clock } from '../../src/clock.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import type { ReferencePrice, ReferencePrices } from '../../src/contracts/reference-price.js';
import { type RiskConfigInput, riskSection } from '../../src/risk/config.js';
import { RiskEngine } from '../../src/risk/risk-engine.js';

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(public nowMs = 1_000) {}
  monoMs(): number {
    return this.nowMs;
  }
  wallNs(): bigint {
    return BigInt(Math.floor(this.nowMs)) * 1_000_000n;
  }
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** Reference prices held in a Map, stamped with the manual clock. */
export class PriceTable implements ReferencePrices {
  private readonly prices = new Map<string, ReferencePrice>();
  constructor(private readonly clock: Clock) {}
  set(symbol: string, price: number, ageMs = 0): void {
    this.prices.set(symbol, { price, monoMs: this.clock.monoMs() - ageMs });
  }
  get(symbol: string): ReferencePrice | undefined {
    return this.prices.get(symbol);
  }
}

/** An envelope for the engine; risk never looks at the key, so it need not match the payload. */
export function envelope(overrides: Partial<IntentEnvelope> = {}): IntentEnvelope {
  return {
    schema_version: 1,
    trace_id: 't-1',
    strategy_id: 'strat-a',
    account: 'acc-1',
    intent_id: 'i-1',
    source_ts_ns: '1700000000000000000',
    idempotency_key: '0'.repeat(64),
    ttl_ms: 5_000,
    kind: 'NEW',
    symbol: 'AAPL',
    side: 'BUY',
    qty: 100,
    price: 1_000_000,
    tif: 'DAY',
    ...overrides,
  };
}

/** Generous throttles so tests of other rules never hit them by accident. */
export const LOOSE_THROTTLE = {
  perStrategy: { ratePerSec: 1_000_000, burst: 1_000_000 },
  global: { ratePerSec: 1_000_000, burst: 1_000_000 },
};

export function makeEngine(config: RiskConfigInput = {}) {
  const clock = new ManualClock();
  const prices = new PriceTable(clock);
  prices.set('AAPL', 1_000_000);
  const engine = new RiskEngine(riskSection.parse({ throttle: LOOSE_THROTTLE, ...config }), prices, clock);
  return { engine, clock, prices };
}
