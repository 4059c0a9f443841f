import type { Clock } from '../clock.js';
import type { IntentEnvelope } from '../contracts/intent.js';
import type { ReferencePrices } from '../contracts/reference-price.js';
import { MAX_SCALED } from '../contracts/scaled.js';
import type { RejectReason } from '../errors.js';
import type { RiskConfig } from './config.js';
import { TokenBucket } from './token-bucket.js';

export type RiskVerdict =
  | { readonly ok: true }
  | { readonly ok: false; reason: RejectReason; detail: string };

const PASS: RiskVerdict = Object.freeze({ ok: true });
const BPS = 10_000n;

interface Limits {
  readonly maxQty: number;
  readonly maxNotional: bigint;
}

const reject = (reason: RejectReason, detail: string): RiskVerdict => ({ ok: false, reason, detail });

/**
 * Pre-trade risk: pure CPU over the config, the latest reference prices and the monotonic clock. No I/O,
 * no floating point on money (notional and collar in BigInt). Rules run in a fixed order so the reason for
 * an intent breaking several is deterministic: allow-list → max qty → max notional → reference price
 * (missing, stale, collar) → throttles (strategy, then global). Throttle tokens are taken only by an
 * intent that passed every other rule, and only when both buckets have one, so a rejected intent never
 * uses up a strategy's rate.
 *
 * Cancels pass unconditionally: reducing risk must never be blocked by a risk rule. Reduce-only under
 * DEGRADED is not here; it needs the position atomically and lives in the admit script.
 */
export class RiskEngine {
  private readonly defaults: Limits;
  private readonly perSymbol: ReadonlyMap<string, Limits>;
  private readonly allowed: ReadonlySet<string> | null;
  private readonly collarBps: bigint;
  private readonly globalBucket: TokenBucket;
  private readonly strategyBuckets = new Map<string, TokenBucket>();
  private lastEvictionScanMs = Number.NaN;

  constructor(
    private readonly config: RiskConfig,
    private readonly prices: ReferencePrices,
    private readonly clock: Clock,
  ) {
    this.defaults = {
      maxQty: config.defaults.maxQty,
      maxNotional: BigInt(config.defaults.maxNotional),
    };
    // A Map, not the parsed object: a symbol named like an Object.prototype member must not hit it.
    const perSymbol = new Map<string, Limits>();
    for (const [symbol, o] of Object.entries(config.symbols)) {
      perSymbol.set(symbol, {
        maxQty: o.maxQty ?? this.defaults.maxQty,
        maxNotional: o.maxNotional === undefined ? this.defaults.maxNotional : BigInt(o.maxNotional),
      });
    }
    this.perSymbol = perSymbol;
    this.allowed = config.allowedSymbols ? new Set(config.allowedSymbols) : null;
    this.collarBps = BigInt(config.collarBps);
    const g = config.throttle.global;
    this.globalBucket = new TokenBucket(g.ratePerSec, g.burst, clock.monoMs());
  }

  check(envelope: IntentEnvelope): RiskVerdict {
    if (envelope.kind === 'CANCEL') return PASS;
    const { symbol, qty, price } = envelope;

    if (this.allowed !== null && !this.allowed.has(symbol)) {
      return reject('RISK_SYMBOL_NOT_ALLOWED', `symbol ${symbol} is not on the allow-list`);
    }
    const limits = this.perSymbol.get(symbol) ?? this.defaults;
    // Envelopes are validated upstream; these guards keep check() total (never throws) for any value.
    if (!Number.isSafeInteger(qty) || qty < 1) {
      return reject('RISK_MAX_QTY', `qty ${describeValue(qty)} is not a positive safe integer`);
    }
    if (qty > limits.maxQty) return reject('RISK_MAX_QTY', `qty ${qty} > max ${limits.maxQty} for ${symbol}`);
    if (!Number.isSafeInteger(price) || price < 1 || price > MAX_SCALED) {
      return reject('RISK_MAX_NOTIONAL', `price ${describeValue(price)} is not a positive safe integer`);
    }
    const orderNotional = BigInt(price) * BigInt(qty);
    if (orderNotional > limits.maxNotional) {
      return reject(
        'RISK_MAX_NOTIONAL',
        `notional ${orderNotional} > max ${limits.maxNotional} for ${symbol}`,
      );
    }

    const collar = this.checkReference(symbol, price);
    if (collar !== PASS) return collar;
    return this.takeThrottleTokens(envelope.strategy_id);
  }

  /** Strategies that currently hold a throttle bucket (bounded by throttle.maxStrategies). */
  trackedStrategies(): number {
    return this.strategyBuckets.size;
  }

  private checkReference(symbol: string, price: number): RiskVerdict {
    const ref = this.prices.get(symbol);
    if (ref === undefined) {
      return this.config.rejectWithoutReference
        ? reject('RISK_NO_REFERENCE', `no reference price for ${symbol}`)
        : PASS;
    }
    const ageMs = this.clock.monoMs() - ref.monoMs;
    if (!(ageMs <= this.config.referenceMaxAgeMs)) {
      return reject(
        'RISK_REFERENCE_STALE',
        `reference for ${symbol} is ${Math.floor(ageMs)} ms old (max ${this.config.referenceMaxAgeMs})`,
      );
    }
    if (!Number.isSafeInteger(ref.price) || ref.price < 1) {
      return reject('RISK_NO_REFERENCE', `reference price for ${symbol} is not a positive integer`);
    }
    // |price − ref| / ref > bps / 10 000, cross-multiplied so it stays in integers.
    const ref64 = BigInt(ref.price);
    const distance = BigInt(price) > ref64 ? BigInt(price) - ref64 : ref64 - BigInt(price);
    if (distance * BPS > ref64 * this.collarBps) {
      return reject(
        'RISK_PRICE_COLLAR',
        `price ${price} is outside ±${this.config.collarBps} bps of reference ${ref.price} for ${symbol}`,
      );
    }
    return PASS;
  }

  private takeThrottleTokens(strategyId: string): RiskVerdict {
    const now = this.clock.monoMs();
    const bucket = this.strategyBucket(strategyId, now);
    if (bucket === null) {
      return reject(
        'RISK_THROTTLE_STRATEGY',
        `strategy ${strategyId} has no throttle bucket: ${this.config.throttle.maxStrategies} strategies are active`,
      );
    }
    if (!bucket.available(now)) {
      const t = this.config.throttle.perStrategy;
      return reject(
        'RISK_THROTTLE_STRATEGY',
        `strategy ${strategyId} above ${t.ratePerSec}/s (burst ${t.burst})`,
      );
    }
    if (!this.globalBucket.available(now)) {
      const t = this.config.throttle.global;
      return reject('RISK_THROTTLE_GLOBAL', `global rate above ${t.ratePerSec}/s (burst ${t.burst})`);
    }
    bucket.take();
    this.globalBucket.take();
    return PASS;
  }

  private strategyBucket(strategyId: string, now: number): TokenBucket | null {
    const existing = this.strategyBuckets.get(strategyId);
    if (existing) return existing;
    if (this.strategyBuckets.size >= this.config.throttle.maxStrategies) {
      // A full bucket is indistinguishable from a fresh one, so dropping it forgets nothing. Buckets only
      // fill as time passes, so a scan that found none is not repeated within the same millisecond: a flood
      // of new strategy ids at capacity costs one O(maxStrategies) scan per ms, not one per intent.
      const nowMs = Math.floor(now);
      if (nowMs === this.lastEvictionScanMs) return null;
      this.lastEvictionScanMs = nowMs;
      for (const [id, b] of this.strategyBuckets) if (b.isFull(now)) this.strategyBuckets.delete(id);
      if (this.strategyBuckets.size >= this.config.throttle.maxStrategies) return null;
    }
    const t = this.config.throttle.perStrategy;
    const created = new TokenBucket(t.ratePerSec, t.burst, now);
    this.strategyBuckets.set(strategyId, created);
    return created;
  }
}

/** Text for a value that failed a numeric guard; never throws (String() does on some objects). */
function describeValue(value: unknown): string {
  return typeof value === 'number' || typeof value === 'bigint' ? String(value) : `(${typeof value})`;
}
