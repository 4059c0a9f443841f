import type { BrokerAdapter, OrderState } from '../broker/adapter.js';
import type { Clock } from '../clock.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { DecisionFactory } from '../gateway/decision-factory.js';
import type { DispatchPermit } from '../gateway/dispatch-permit.js';
import type { AdmittedIntent, Dispatcher } from '../gateway/dispatcher.js';
import type { GatewayStore } from '../gateway/gateway-store.js';
import { GatewayScriptCode } from '../gateway/script-codes.js';
import type { Logger } from '../log.js';
import { forEachBounded } from './bounded.js';
import type { JournalEntry } from './journal-entry.js';
import type { JournalReader } from './journal-reader.js';

export interface ReconcileDeps {
  readonly reader: JournalReader;
  readonly store: GatewayStore;
  readonly broker: BrokerAdapter;
  readonly dispatcher: Dispatcher;
  readonly decisions: DecisionFactory;
  readonly permit: DispatchPermit;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Client order ids this process is dispatching right now: never reconciled under their feet. */
  readonly skip?: ReadonlySet<string>;
  /**
   * Asked before each entry: true once the gateway is being deactivated, so a pass does not hold up a
   * planned step-down. What is left stays ADMITTED (or open) for the next pass or leader.
   */
  readonly stop?: () => boolean;
}

export interface ReconcileOptions {
  /**
   * An ADMITTED entry is orphaned, and only then reconciled, when its latest dispatch attempt was made
   * under an older epoch or began at least this long ago by the state Redis clock
   * (gateway.reconcileMinAgeMs, longer than the dispatchers' send window broker.requestTimeoutMs).
   */
  readonly orphanAgeMs: number;
  readonly batch: number;
  /** Entries in flight at once (gateway.reconcileConcurrency); NEW entries are all settled before CANCELs. */
  readonly concurrency: number;
  /**
   * Look at every ADMITTED entry, not only those whose attempt is older than the orphan age: on
   * activation, the previous leader's entries (older epoch) are orphaned however recent.
   */
  readonly scanAll?: boolean;
}

export interface ReconcileResult {
  /** At the venue: recorded DISPATCHED (or REJECTED when the venue refused it). */
  found: number;
  /** Absent at the venue with ttl alive: sent again with the same client order id. */
  redispatched: number;
  /** Absent and past ttl: JOURNAL_EXPIRED, exposure released. */
  expired: number;
  /** Could not be resolved this pass (venue or Redis error); left ADMITTED for the next pass. */
  failed: number;
  /** Left alone: their dispatcher is alive and within its send window (this epoch, attempt too recent). */
  live: number;
}

const TERMINAL: ReadonlySet<OrderState> = new Set<OrderState>(['FILLED', 'CANCELED', 'REJECTED']);

/**
 * Resolves orphaned ADMITTED journal entries against the venue by client order id (ARCHITECTURE.md,
 * safety protocol 4): found → DISPATCHED with its decision stored (and fills applied); not found and ttl
 * alive → re-dispatch with the same id; expired → JOURNAL_EXPIRED and the reservation released. A cancel
 * is resent while alive (a venue answers a repeated cancel harmlessly). One entry failing never stops the
 * pass; FENCED does (the caller must stop): no further entry is started and the pass rejects once those in
 * flight settle. Entries are read in one pipelined round trip and handled `concurrency` at a time.
 *
 * Never under a live dispatcher: an entry whose latest attempt is this epoch's and younger than
 * `orphanAgeMs` is left alone (its dispatcher, in this or another process, may still send it), and a
 * re-dispatch or expiry is a compare-and-set on the attempt number, so two reconcilers cannot both act.
 */
export async function reconcileJournal(
  deps: ReconcileDeps,
  opts: ReconcileOptions,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { found: 0, redispatched: 0, expired: 0, failed: 0, live: 0 };
  const serverNowMs = await deps.reader.serverTimeMs();
  const ids = await deps.reader.admitted(
    opts.scanAll ? Number.POSITIVE_INFINITY : serverNowMs - opts.orphanAgeMs,
    opts.batch,
  );
  const nowMs = () => Number(deps.clock.wallNs() / 1_000_000n);
  const entries = await deps.reader.readMany(ids);
  const news: JournalEntry[] = [];
  const cancels: JournalEntry[] = [];
  ids.forEach((coid, i) => {
    const entry = entries[i];
    if (deps.skip?.has(coid)) {
      result.live += 1;
    } else if (entry instanceof Error) {
      result.failed += 1;
      deps.logger.warn(
        { err: entry, client_order_id: coid },
        'journal entry not reconciled; retried next pass',
      );
    } else if (!entry || entry.state !== 'ADMITTED') {
      // Resolved between the index read and the entry read.
    } else if (entry.attemptEpoch < deps.permit.epoch || serverNowMs - entry.attemptMs >= opts.orphanAgeMs) {
      // Anything that is not a NEW acts on a target: it goes after every NEW.
      (entry.kind === 'NEW' ? news : cancels).push(entry);
    } else {
      result.live += 1;
    }
  });
  const one = async (entry: JournalEntry): Promise<void> => {
    if (deps.skip?.has(entry.clientOrderId)) {
      result.live += 1;
      return;
    }
    try {
      await reconcileOne(deps, entry, nowMs(), opts.orphanAgeMs, result);
    } catch (err) {
      if (isGatewayError(err, 'GW_ERR_FENCED')) throw err;
      result.failed += 1;
      deps.logger.warn(
        { err, client_order_id: entry.clientOrderId },
        'journal entry not reconciled; retried next pass',
      );
    }
  };
  // NEW entries first, all of them settled, then CANCELs: a resent cancel must reach the venue after its
  // target's re-dispatch (as it did when entries were handled oldest first, one at a time), or the venue
  // would answer the cancel "unknown order" and then take the order. Different client order ids are
  // otherwise independent: every step is a compare-and-set on its own entry.
  const stop = deps.stop ?? (() => false);
  await forEachBounded(news, opts.concurrency, one, stop);
  await forEachBounded(cancels, opts.concurrency, one, stop);
  if (ids.length) deps.logger.info({ ...result, entries: ids.length }, 'journal reconciled');
  return result;
}

async function reconcileOne(
  deps: ReconcileDeps,
  entry: JournalEntry,
  nowMs: number,
  orphanAgeMs: number,
  result: ReconcileResult,
): Promise<void> {
  const intent = toIntent(entry);
  const alive = nowMs <= entry.deadlineMs;
  if (entry.kind === 'NEW') {
    const status = await deps.broker.queryByClientOrderId(entry.clientOrderId);
    if (status) {
      if (status.state === 'REJECTED') {
        const decision = deps.decisions.rejected(
          intent,
          'BROKER_REJECT',
          'venue: rejected (found by reconciliation)',
          deps.permit.epoch,
          entry.clientOrderId,
        );
        await deps.dispatcher.record(intent, deps.permit, 'REJECTED', decision, status.state);
      } else {
        const decision = deps.decisions.accepted(intent, deps.permit.epoch, entry.clientOrderId);
        await deps.dispatcher.record(intent, deps.permit, 'DISPATCHED', decision, status.state);
        await deps.store.applyExecution(
          entry.clientOrderId,
          entry.account,
          deps.permit.epoch,
          status.filledQty,
          TERMINAL.has(status.state),
          status.state,
        );
      }
      result.found += 1;
      return;
    }
  }
  if (alive) {
    const startedAt = performance.now();
    const claim = await deps.store.markAttempt(
      entry.clientOrderId,
      deps.permit.epoch,
      entry.attempt,
      orphanAgeMs,
    );
    if (claim.code === GatewayScriptCode.FENCED) {
      deps.permit.onFenced(Number(claim.detail));
      throw new GatewayError('GW_ERR_FENCED', `epoch ${deps.permit.epoch} < ${claim.detail}`);
    }
    if (claim.code !== GatewayScriptCode.ADMITTED) {
      // Resolved, superseded or live again since it was read: someone else owns it now.
      result.live += 1;
      return;
    }
    await deps.dispatcher.dispatch(intent, deps.permit, { number: claim.extra, startedAt });
    result.redispatched += 1;
    return;
  }
  const decision = deps.decisions.rejected(
    intent,
    'JOURNAL_EXPIRED',
    `not at the venue and past its deadline ${entry.deadlineMs} ms`,
    deps.permit.epoch,
    entry.clientOrderId,
  );
  await deps.dispatcher.record(intent, deps.permit, 'EXPIRED', decision, '', entry.attempt);
  result.expired += 1;
}

function toIntent(e: JournalEntry): AdmittedIntent {
  return {
    kind: e.kind,
    clientOrderId: e.clientOrderId,
    idempotencyKey: e.idempotencyKey,
    intentId: e.intentId,
    sourceTsNs: e.sourceTsNs,
    traceId: e.traceId,
    account: e.account,
    symbol: e.symbol,
    side: e.side,
    qty: e.qty,
    price: e.price,
    tif: e.tif,
    target: e.target,
  };
}

export interface OpenOrdersResult {
  /** Open orders whose venue status was applied (fills moved, terminal ones closed and released). */
  synced: number;
  /** Orders the venue does not know (a venue that lost its book); left as they are for an operator. */
  unknown: number;
  failed: number;
}

/**
 * Catches exposure up with the venue for every open order (DISPATCHED, not closed): execution reports that
 * arrived while no gateway held a permit (failover gap, restart) were not applied, and a FILLED or CANCELED
 * order would otherwise keep its reservation until the next activation. Idempotent: applyExecution works by
 * cumulative qty, so it may run alongside live execution reports and the decision path (docs/gateway.md,
 * "Activation"). Covers the orders in the index when it starts (up to its highest score then), so it
 * ends under a steady flow of new orders; pages by score, so orders closed meanwhile shift nothing.
 */
export async function syncOpenOrders(
  deps: ReconcileDeps,
  opts: { readonly batch: number; readonly concurrency: number },
): Promise<OpenOrdersResult> {
  const result: OpenOrdersResult = { synced: 0, unknown: 0, failed: 0 };
  const toScore = await deps.reader.openMaxScore();
  // Cursor: the last score read, and the ids already read at exactly that score (ties are common).
  let fromScore = Number.NEGATIVE_INFINITY;
  let seenAtFrom = new Set<string>();
  while (toScore !== null) {
    const limit = opts.batch + seenAtFrom.size;
    const page = await deps.reader.openByScore(fromScore, toScore, limit);
    const fresh = page.filter((o) => !seenAtFrom.has(o.clientOrderId));
    if (fresh.length === 0) break;
    const ids = fresh.map((o) => o.clientOrderId);
    const entries = await deps.reader.readMany(ids);
    const one = async (i: number): Promise<void> => {
      const coid = ids[i] as string;
      try {
        const entry = entries[i];
        if (entry instanceof Error) throw entry;
        if (!entry) return;
        const status = await deps.broker.queryByClientOrderId(coid);
        if (!status) {
          result.unknown += 1;
          return;
        }
        const terminal = TERMINAL.has(status.state);
        const answer = await deps.store.applyExecution(
          coid,
          entry.account,
          deps.permit.epoch,
          status.filledQty,
          terminal,
          status.state,
        );
        if (answer.code === GatewayScriptCode.FENCED) {
          deps.permit.onFenced(Number(answer.detail));
          throw new GatewayError('GW_ERR_FENCED', `epoch ${deps.permit.epoch} < ${answer.detail}`);
        }
        result.synced += 1;
      } catch (err) {
        if (isGatewayError(err, 'GW_ERR_FENCED')) throw err;
        result.failed += 1;
        deps.logger.warn({ err, client_order_id: coid }, 'open order not synced with the venue');
      }
    };
    // Each open order is its own client order id and applyExecution works by cumulative quantity, so the
    // orders of a page are independent; the page is settled before the next one is read.
    await forEachBounded(
      ids.map((_, i) => i),
      opts.concurrency,
      one,
      deps.stop,
    );
    const lastScore = (page[page.length - 1] as { score: number }).score;
    if (lastScore !== fromScore) seenAtFrom = new Set();
    for (const o of fresh) if (o.score === lastScore) seenAtFrom.add(o.clientOrderId);
    fromScore = lastScore;
    if (page.length < limit || deps.stop?.()) break;
  }
  if (result.synced + result.unknown + result.failed > 0) deps.logger.info(result, 'open orders synced');
  return result;
}
