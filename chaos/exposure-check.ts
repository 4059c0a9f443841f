import { deriveClientOrderId } from '../src/contracts/idempotency.js';
import { notional } from '../src/contracts/scaled.js';
import type { AccountExposure, LevelExposure } from '../src/exposure/exposure-reader.js';
import { worstCase } from '../src/exposure/exposure-reader.js';
import type { VenueOrderRecord } from '../src/venue/protocol.js';
import type { WorkerReport } from './strategy-worker.js';

/** The limits the cluster's gateways run with (config section `exposure`), as the checker reads them. */
export interface ExposureLimits {
  readonly symbolNotional: number;
  readonly strategyNotional: number;
  readonly accountNotional: number;
  /** Per-symbol overrides of symbolNotional. */
  readonly symbols?: Readonly<Record<string, number>>;
}

/** Worst-case notional of one exposure level at one instant, as read from the Redis exposure hash. */
export interface LevelSample {
  /** `A`, `S|<symbol>`, `T|<strategy>` (pairs `P|…` carry no limit and are not sampled). */
  readonly level: string;
  readonly buy: number;
  readonly sell: number;
}

/** The limit a level is checked against (src/commands/includes/exposure.lua); null for unlimited levels. */
export function limitOf(level: string, limits: ExposureLimits): number | null {
  if (level === 'A') return limits.accountNotional;
  if (level.startsWith('S|')) return limits.symbols?.[level.slice(2)] ?? limits.symbolNotional;
  if (level.startsWith('T|')) return limits.strategyNotional;
  return null;
}

/** Every limited level of one account read, worst case per side. */
export function levelSamples(exposure: AccountExposure): LevelSample[] {
  const out: LevelSample[] = [{ level: 'A', ...worstCase(exposure.account) }];
  for (const [symbol, v] of exposure.symbols) out.push({ level: `S|${symbol}`, ...worstCase(v) });
  for (const [strategy, v] of exposure.strategies) out.push({ level: `T|${strategy}`, ...worstCase(v) });
  return out;
}

export interface ExposurePeak {
  readonly max: number;
  readonly limit: number;
}

/** Highest worst-case exposure seen per level (either side) against its limit, and every breach. */
export function exposurePeaks(
  samples: readonly LevelSample[],
  limits: ExposureLimits,
): { peaks: Record<string, ExposurePeak>; breaches: string[] } {
  const peaks: Record<string, ExposurePeak> = {};
  for (const s of samples) {
    const limit = limitOf(s.level, limits);
    if (limit === null) continue;
    const max = Math.max(s.buy, s.sell, peaks[s.level]?.max ?? 0);
    peaks[s.level] = { max, limit };
  }
  const breaches = Object.entries(peaks)
    .filter(([, p]) => p.max > p.limit)
    .map(([level, p]) => `exposure ${level} reached ${p.max}, above its limit ${p.limit}`);
  return { peaks, breaches };
}

type Metrics = { -readonly [K in keyof LevelExposure]: number };
const zero = (): Metrics => ({ q: 0, fn: 0, rbq: 0, rb: 0, rsq: 0, rs: 0 });
const TERMINAL = new Set(['FILLED', 'CANCELED', 'REJECTED']);

/**
 * What the exposure hash of `account` must hold given what the venue holds: filled lots and notional at
 * the order price (as applyExecution does), and the unfilled rest of every order still open at the venue
 * as a reservation. The strategy of a venue order comes from the workers' ledgers (client order id derived
 * from each intent's idempotency key, exactly as the gateway derives it). Venue orders no worker submitted
 * are returned separately: they would be a gateway inventing orders.
 */
export function exposureFromVenue(
  orders: readonly VenueOrderRecord[],
  reports: readonly WorkerReport[],
  account: string,
  /** Only the account and symbol levels (diagnosis without the workers' ledgers). */
  accountOnly = false,
): { levels: Map<string, Metrics>; unknownOrders: string[] } {
  const strategyOf = new Map<string, string>();
  for (const report of reports) {
    for (const outcome of report.outcomes) strategyOf.set(deriveClientOrderId(outcome.key), report.id);
  }
  const levels = new Map<string, Metrics>();
  const unknownOrders: string[] = [];
  const add = (level: string, delta: Partial<Metrics>) => {
    const m = levels.get(level) ?? zero();
    for (const [k, v] of Object.entries(delta) as Array<[keyof Metrics, number]>) m[k] += v;
    levels.set(level, m);
  };
  for (const order of orders) {
    if (order.account !== account || order.state === 'REJECTED') continue;
    const strategy = strategyOf.get(order.clientOrderId);
    if (!strategy && !accountOnly) {
      unknownOrders.push(order.clientOrderId);
      continue;
    }
    const sign = order.side === 'BUY' ? 1 : -1;
    const filledNotional = notional(order.price, order.filledQty) ?? Number.NaN;
    const open = TERMINAL.has(order.state) ? 0 : order.qty - order.filledQty;
    const openNotional = notional(order.price, open) ?? Number.NaN;
    const delta: Partial<Metrics> = {
      q: sign * order.filledQty,
      fn: sign * filledNotional,
      ...(order.side === 'BUY' ? { rbq: open, rb: openNotional } : { rsq: open, rs: openNotional }),
    };
    const levelNames = accountOnly
      ? ['A']
      : ['A', `S|${order.symbol}`, `T|${strategy}`, `P|${strategy}|${order.symbol}`];
    for (const level of levelNames) {
      add(level, delta);
    }
  }
  return { levels, unknownOrders };
}

/** Differences between the exposure hash and what the venue holds (empty when they agree exactly). */
export function exposureMismatches(
  expected: ReadonlyMap<string, Metrics>,
  actual: AccountExposure,
): string[] {
  const actualLevels = new Map<string, LevelExposure>([['A', actual.account]]);
  for (const [s, v] of actual.symbols) actualLevels.set(`S|${s}`, v);
  for (const [s, v] of actual.strategies) actualLevels.set(`T|${s}`, v);
  for (const [s, v] of actual.pairs) actualLevels.set(`P|${s}`, v);
  const mismatches: string[] = [];
  for (const level of new Set([...expected.keys(), ...actualLevels.keys()])) {
    const want = expected.get(level) ?? zero();
    const have = actualLevels.get(level) ?? zero();
    const diff = (Object.keys(want) as Array<keyof Metrics>).filter((k) => want[k] !== have[k]);
    if (diff.length > 0) {
      mismatches.push(`${level}: ${diff.map((k) => `${k} redis ${have[k]} venue ${want[k]}`).join(', ')}`);
    }
  }
  return mismatches;
}

/** The journal fields the per-order comparison needs (src/journal/journal-entry.ts, raw hash fields). */
export interface JournalRow {
  readonly coid: string;
  readonly state: string;
  readonly kind: string;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: string;
  readonly qty: number;
  readonly price: number;
  readonly openQty: number;
  readonly filledQty: number;
  readonly closed: boolean;
}

/**
 * Per-order explanation of an exposure mismatch: every NEW journal entry of `account` whose contribution
 * to the exposure hash (filled_qty, and open_qty while not closed) differs from what its venue order holds,
 * and every venue order with no journal entry. Only for diagnosis: the check itself is exposureMismatches.
 */
export function journalVersusVenue(
  rows: readonly JournalRow[],
  orders: readonly VenueOrderRecord[],
  account: string,
): string[] {
  const venue = new Map(orders.filter((o) => o.account === account).map((o) => [o.clientOrderId, o]));
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.kind !== 'NEW' || r.account !== account) continue;
    seen.add(r.coid);
    const o = venue.get(r.coid);
    const held = `${r.state}${r.closed ? '/closed' : ''} ${r.strategy} ${r.symbol} ${r.side} filled ${r.filledQty} open ${r.openQty}`;
    if (!o) {
      if (r.filledQty !== 0 || r.openQty !== 0) out.push(`${r.coid}: journal ${held}; venue has no order`);
      continue;
    }
    const open = o.state === 'REJECTED' || TERMINAL.has(o.state) ? 0 : o.qty - o.filledQty;
    const filled = o.state === 'REJECTED' ? 0 : o.filledQty;
    if (
      o.symbol !== r.symbol ||
      o.side !== r.side ||
      filled !== r.filledQty ||
      open !== r.openQty ||
      o.qty !== r.qty
    ) {
      out.push(
        `${r.coid}: journal ${held}; venue ${o.state} ${o.symbol} ${o.side} qty ${o.qty} filled ${o.filledQty} epoch ${o.epoch} dup ${o.duplicateAttempts}`,
      );
    }
  }
  for (const o of venue.values()) {
    if (!seen.has(o.clientOrderId) && o.state !== 'REJECTED') {
      out.push(
        `${o.clientOrderId}: no journal entry; venue ${o.state} ${o.symbol} ${o.side} filled ${o.filledQty}`,
      );
    }
  }
  return out;
}

/** What the exposure hash must hold given the journal alone: filled_qty, and open_qty as reserved. */
export function exposureFromJournal(rows: readonly JournalRow[], account: string): Map<string, Metrics> {
  const levels = new Map<string, Metrics>();
  for (const r of rows) {
    if (r.kind !== 'NEW' || r.account !== account) continue;
    const sign = r.side === 'BUY' ? 1 : -1;
    const open = r.openQty;
    const delta: Partial<Metrics> = {
      q: sign * r.filledQty,
      fn: sign * r.filledQty * r.price,
      ...(r.side === 'BUY' ? { rbq: open, rb: open * r.price } : { rsq: open, rs: open * r.price }),
    };
    for (const level of ['A', `S|${r.symbol}`, `T|${r.strategy}`, `P|${r.strategy}|${r.symbol}`]) {
      const m = levels.get(level) ?? zero();
      for (const [k, v] of Object.entries(delta) as Array<[keyof Metrics, number]>) m[k] += v;
      levels.set(level, m);
    }
  }
  return levels;
}
