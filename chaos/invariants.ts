import { deriveClientOrderId } from '../src/contracts/idempotency.js';
import type { VenueOrderRecord } from '../src/venue/protocol.js';
import { type ExposureLimits, type ExposurePeak, type LevelSample, exposurePeaks } from './exposure-check.js';
import type { WorkerReport } from './strategy-worker.js';

export interface InvariantReport {
  /** Client order ids the venue accepted more than once (must be 0). */
  readonly duplicates: number;
  /** Re-sends of a known client order id that the venue refused (the last line of defence worked). */
  readonly duplicateAttempts: number;
  /** Intents acknowledged ACCEPTED to a worker with no order at the venue (must be 0). */
  readonly lost: number;
  /** Intents whose worker never learned a decision within its settle budget (reported, not acknowledged). */
  readonly unknown: number;
  /**
   * Intents a worker holds REJECTED that have a live or filled order at the venue (must be 0): the
   * strategy was told "not sent" about an order that exists (a dead-lettered intent answered as a reject
   * was one way). A venue-rejected order, or one canceled with nothing filled, is not counted.
   */
  readonly phantom: number;
  /** Orders that reached the venue from an older epoch after a newer epoch had dispatched (must be 0). */
  readonly staleEpochOrders: number;
  /** Highest worst-case account exposure observed (each side), and the account limit. */
  readonly maxExposure: number;
  readonly exposureLimit: number;
  /** Highest worst-case exposure per limited level (account, symbols, strategies) and its limit. */
  readonly exposurePeaks: Record<string, ExposurePeak>;
  readonly accepted: number;
  readonly venueOrders: number;
  readonly violations: string[];
}

/**
 * The chaos invariants, from the venue oracle (ground truth of what was sent) and the workers' ledgers
 * (what was acknowledged): no client order id accepted twice, no acknowledged intent lost, exposure never
 * above its limit at any level (samples of the Redis exposure hash), and one dispatching leader at a time
 * as the venue sees it (epochs never go backwards).
 */
export function checkInvariants(
  orders: readonly VenueOrderRecord[],
  reports: readonly WorkerReport[],
  exposure: readonly LevelSample[],
  limits: ExposureLimits,
): InvariantReport {
  const violations: string[] = [];
  const byId = new Map<string, number>();
  const live = new Set<string>();
  let duplicateAttempts = 0;
  let highest = 0;
  let staleEpochOrders = 0;
  for (const order of orders) {
    byId.set(order.clientOrderId, (byId.get(order.clientOrderId) ?? 0) + 1);
    if (order.state !== 'REJECTED' && !(order.state === 'CANCELED' && order.filledQty === 0)) {
      live.add(order.clientOrderId);
    }
    duplicateAttempts += order.duplicateAttempts;
    if (order.epoch < highest) staleEpochOrders += 1;
    highest = Math.max(highest, order.epoch);
  }
  const duplicates = [...byId.values()].filter((n) => n > 1).length;
  let lost = 0;
  let unknown = 0;
  let phantom = 0;
  let accepted = 0;
  const lostSamples: string[] = [];
  const phantomSamples: string[] = [];
  for (const report of reports) {
    for (const outcome of report.outcomes) {
      if (outcome.status === 'UNKNOWN') unknown += 1;
      if (outcome.status === 'REJECTED') {
        // A reject carries no client order id; it is derived from the key (ARCHITECTURE.md, safety protocol).
        const coid = deriveClientOrderId(outcome.key);
        if (live.has(coid)) {
          phantom += 1;
          if (phantomSamples.length < 5) phantomSamples.push(`${coid} (${outcome.reason})`);
        }
      }
      if (outcome.status !== 'ACCEPTED') continue;
      accepted += 1;
      if (!outcome.clientOrderId || !byId.has(outcome.clientOrderId)) {
        lost += 1;
        if (lostSamples.length < 5) lostSamples.push(outcome.clientOrderId ?? outcome.key);
      }
    }
  }
  const { peaks, breaches } = exposurePeaks(exposure, limits);
  if (duplicates > 0) violations.push(`${duplicates} client order ids accepted more than once`);
  if (lost > 0)
    violations.push(`${lost} acknowledged intents missing at the venue (e.g. ${lostSamples.join(', ')})`);
  if (phantom > 0)
    violations.push(
      `${phantom} intents answered REJECTED have an order at the venue (e.g. ${phantomSamples.join(', ')})`,
    );
  if (staleEpochOrders > 0)
    violations.push(`${staleEpochOrders} orders from an older epoch after a newer one`);
  violations.push(...breaches);
  return {
    duplicates,
    duplicateAttempts,
    lost,
    unknown,
    phantom,
    staleEpochOrders,
    maxExposure: peaks.A?.max ?? 0,
    exposureLimit: limits.accountNotional,
    exposurePeaks: peaks,
    accepted,
    venueOrders: orders.length,
    violations,
  };
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}
