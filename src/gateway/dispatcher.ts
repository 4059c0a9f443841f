import type { Redis } from 'ioredis';
import type { BrokerAdapter, PlaceResult } from '../broker/adapter.js';
import type { Completion } from '../channel/intent-consumer.js';
import { Stage, markStage } from '../channel/stage-trace.js';
import type { Decision } from '../contracts/decision.js';
import { parseDecision, serializeDecision } from '../contracts/decision.js';
import type { Side, Tif } from '../contracts/intent.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import type { DecisionFactory } from './decision-factory.js';
import type { DispatchPermit } from './dispatch-permit.js';
import type { EventSink } from './event-sink.js';
import type { GatewayStore, Outcome } from './gateway-store.js';
import type { GatewayMetrics } from './metrics.js';
import { GatewayScriptCode } from './script-codes.js';

/** An ADMITTED intent, as the pipeline has it or as reconciliation reads it from the journal. */
export interface AdmittedIntent {
  readonly kind: 'NEW' | 'CANCEL';
  readonly clientOrderId: string;
  readonly idempotencyKey: string;
  readonly intentId: string;
  readonly sourceTsNs: string;
  readonly traceId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly tif: Tif;
  /** Client order id a CANCEL acts on; "" for NEW. */
  readonly target: string;
  /** The channel entry this intent came from, completed with the outcome (absent for reconciliation). */
  readonly completion?: Completion;
}

/**
 * One dispatch attempt of a journal entry: attempt 1 is started by the admit script, later ones by
 * reconciliation (markAttempt-3). `startedAt` is this process's monotonic clock (performance.now())
 * read before the script that started the attempt ran, so it is never later than the attempt's
 * `attempt_ms` in the journal.
 */
export interface DispatchAttempt {
  readonly number: number;
  readonly startedAt: number;
}

/** Broker call outcomes the fail-safe policy watches (StormGuard implements this). */
export interface BrokerObserver {
  observeBroker(ok: boolean, latencyNs: number | bigint): void;
}

export interface DispatcherDeps {
  readonly redis: Redis;
  readonly keys: Keyspace;
  readonly store: GatewayStore;
  readonly broker: BrokerAdapter;
  readonly decisions: DecisionFactory;
  readonly metrics: GatewayMetrics;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly observer?: BrokerObserver;
  /**
   * How long after an attempt starts its order may still be written to the broker (broker.requestTimeoutMs).
   * Reconciliation treats an attempt as orphaned only once it is gateway.reconcileMinAgeMs old (longer,
   * checked at start-up), so an order is never sent by two dispatchers at once.
   */
  readonly sendWindowMs: number;
}

const DUPLICATE_ID = 'DUPLICATE_CLIENT_ORDER_ID';

/**
 * Sends one ADMITTED intent to the broker and records the outcome. The permit is checked immediately
 * before the send. Outcome handling (ARCHITECTURE.md, safety protocol 4):
 *
 * - broker answered (accepted, or the venue already has this client order id) → DISPATCHED;
 * - broker refused the order → REJECTED, reservation released;
 * - not sent (permit gone, GW_ERR_BROKER_UNAVAILABLE) → ABORTED: reservation released, journal entry
 *   deleted, the error rethrown so the stream entry stays pending and is decided again later;
 * - unknown (GW_ERR_BROKER_TIMEOUT, or anything else after the send started) → the entry stays ADMITTED
 *   for reconciliation and the error is rethrown; it is never blindly resent.
 *
 * The send window: the order is written to the broker only if the attempt started less than
 * `sendWindowMs` ago (checked synchronously with the write, so a starved event loop cannot slip past it).
 * Later than that, reconciliation may already own the entry: nothing is sent, and the attempt is aborted
 * only if it is still the entry's latest (ABORTED compare-and-set on the attempt number).
 */
export class Dispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  async dispatch(
    intent: AdmittedIntent,
    permit: DispatchPermit,
    attempt: DispatchAttempt,
  ): Promise<Decision> {
    if (!permit.mayDispatch()) {
      return this.abort(
        intent,
        permit,
        attempt,
        new GatewayError('GW_ERR_NOT_LEADER', 'permit withdrawn before dispatch; nothing sent'),
      );
    }
    // No await between this check and the broker's synchronous write below.
    const late = performance.now() - attempt.startedAt;
    if (late > this.deps.sendWindowMs) {
      return this.abort(
        intent,
        permit,
        attempt,
        new GatewayError(
          'GW_ERR_SEND_WINDOW_PASSED',
          `attempt ${attempt.number} started ${Math.round(late)} ms ago; nothing sent`,
        ),
      );
    }
    const started = process.hrtime.bigint();
    let result: PlaceResult;
    try {
      result =
        intent.kind === 'NEW'
          ? await this.deps.broker.place({
              clientOrderId: intent.clientOrderId,
              account: intent.account,
              symbol: intent.symbol,
              side: intent.side,
              qty: intent.qty,
              price: intent.price,
              tif: intent.tif,
              epoch: permit.epoch,
            })
          : await this.deps.broker.cancel(intent.target, permit.epoch);
    } catch (err) {
      this.deps.observer?.observeBroker(false, process.hrtime.bigint() - started);
      if (isGatewayError(err, 'GW_ERR_BROKER_UNAVAILABLE')) return this.abort(intent, permit, attempt, err);
      // Timeouts and anything unexpected: outcome unknown, the journal keeps it ADMITTED.
      throw err;
    }
    const elapsed = process.hrtime.bigint() - started;
    markStage(intent.idempotencyKey, Stage.VENUE_ACK);
    this.deps.observer?.observeBroker(true, elapsed);
    this.deps.metrics.dispatchLatency.observe(Number(elapsed) / 1e9);
    if (this.deps.events.enabled) {
      this.deps.events.record('gateway.ack', {
        client_order_id: intent.clientOrderId,
        kind: intent.kind,
        state: result.state,
        reject_reason: result.rejectReason,
        venue_order_id: result.venueOrderId,
        epoch: permit.epoch,
      });
    }
    return this.settle(intent, permit, result);
  }

  private async settle(
    intent: AdmittedIntent,
    permit: DispatchPermit,
    result: PlaceResult,
  ): Promise<Decision> {
    const accepted =
      result.state !== 'REJECTED' || (intent.kind === 'NEW' && result.rejectReason === DUPLICATE_ID);
    if (accepted) {
      const decision = this.deps.decisions.accepted(intent, permit.epoch, intent.clientOrderId);
      const inForce = await this.record(intent, permit, 'DISPATCHED', decision, result.state);
      if (intent.kind === 'CANCEL' && result.state === 'CANCELED') await this.settleTarget(intent, permit);
      return inForce;
    }
    const reason =
      intent.kind === 'CANCEL' && result.rejectReason === 'UNKNOWN_ORDER' ? 'UNKNOWN_ORDER' : 'BROKER_REJECT';
    const decision = this.deps.decisions.rejected(
      intent,
      reason,
      `venue: ${result.rejectReason ?? 'rejected'}`,
      permit.epoch,
      intent.clientOrderId,
    );
    return this.record(intent, permit, 'REJECTED', decision, result.state);
  }

  /**
   * A canceled order's reservation is released here as well as by its CANCELED execution report, so a
   * report lost on the way (reconnect, full queue) leaves nothing reserved. The venue's filled quantity is
   * applied first, so fills are never released as if unfilled. Best effort: the report path still applies.
   */
  private async settleTarget(intent: AdmittedIntent, permit: DispatchPermit): Promise<void> {
    try {
      const status = await this.deps.broker.queryByClientOrderId(intent.target);
      if (!status) return;
      await this.deps.store.applyExecution(
        intent.target,
        intent.account,
        permit.epoch,
        status.filledQty,
        status.state === 'CANCELED' || status.state === 'FILLED' || status.state === 'REJECTED',
        status.state,
      );
    } catch (err) {
      this.deps.logger.warn(
        { err, client_order_id: intent.target },
        'canceled order not settled; report path will',
      );
    }
  }

  /**
   * Nothing was sent under `attempt`: releases the reservation and deletes the entry (so a redelivery is
   * admitted afresh) if the attempt is still the entry's latest, and throws `why`. If another dispatcher
   * has started an attempt since (reconciliation after this one's send window), the entry is theirs:
   * answers with the decision they stored, or throws GW_ERR_INTENT_IN_FLIGHT while there is none yet.
   */
  private async abort(
    intent: AdmittedIntent,
    permit: DispatchPermit,
    attempt: DispatchAttempt,
    why: GatewayError,
  ): Promise<Decision> {
    const answer = await this.deps.store.recordOutcome({
      clientOrderId: intent.clientOrderId,
      account: intent.account,
      idempotencyKey: intent.idempotencyKey,
      epoch: permit.epoch,
      outcome: 'ABORTED',
      decision: '',
      venueState: '',
      attempt: attempt.number,
    });
    if (answer.code === GatewayScriptCode.FENCED) {
      permit.onFenced(Number(answer.detail));
      throw new GatewayError('GW_ERR_FENCED', `epoch ${permit.epoch} < ${answer.detail}`);
    }
    if (answer.code === GatewayScriptCode.ADMITTED) throw why;
    if (
      answer.code !== GatewayScriptCode.SUPERSEDED &&
      answer.code !== GatewayScriptCode.NOT_ADMITTED &&
      answer.code !== GatewayScriptCode.NOT_FOUND
    ) {
      throw new GatewayError('GW_ERR_SCRIPT_FAILED', `recordOutcome ABORTED answered ${answer.code}`);
    }
    this.deps.logger.warn(
      { client_order_id: intent.clientOrderId, attempt: attempt.number, why: why.message },
      'dispatch attempt superseded by reconciliation; nothing sent by this one',
    );
    const stored = await this.deps.redis.get(this.deps.keys.decision(intent.idempotencyKey));
    if (stored !== null) return parseDecision(stored);
    throw new GatewayError('GW_ERR_INTENT_IN_FLIGHT', `${intent.clientOrderId}: ${why.message}`);
  }

  /**
   * Records an outcome. Returns the decision in force: ours, or the one already stored when another path
   * (reconciliation, a twin) recorded the entry first. FENCED → permit.onFenced and GW_ERR_FENCED.
   */
  async record(
    intent: AdmittedIntent,
    permit: DispatchPermit,
    outcome: Exclude<Outcome, 'ABORTED'>,
    decision: Decision,
    venueState: string,
    attempt?: number,
  ): Promise<Decision> {
    const answer = await this.deps.store.recordOutcome({
      clientOrderId: intent.clientOrderId,
      account: intent.account,
      idempotencyKey: intent.idempotencyKey,
      epoch: permit.epoch,
      outcome,
      decision: serializeDecision(decision),
      venueState,
      ...(attempt === undefined ? {} : { attempt }),
      ...(intent.completion ? { completion: intent.completion } : {}),
    });
    markStage(intent.idempotencyKey, Stage.OUTCOME);
    if (answer.code === GatewayScriptCode.FENCED) {
      permit.onFenced(Number(answer.detail));
      throw new GatewayError('GW_ERR_FENCED', `epoch ${permit.epoch} < ${answer.detail}`);
    }
    if (answer.code === GatewayScriptCode.ADMITTED) {
      if (answer.extra === 1 && intent.completion) intent.completion.done = true;
      this.deps.events.record('gateway.decision', decision);
      return decision;
    }
    if (answer.code === GatewayScriptCode.NOT_ADMITTED || answer.code === GatewayScriptCode.NOT_FOUND) {
      const stored = await this.deps.redis.get(this.deps.keys.decision(intent.idempotencyKey));
      if (stored !== null) return parseDecision(stored);
      return decision;
    }
    if (answer.code === GatewayScriptCode.SUPERSEDED) {
      throw new GatewayError('GW_ERR_INTENT_IN_FLIGHT', `${intent.clientOrderId}: a newer attempt owns it`);
    }
    throw new GatewayError(
      'GW_ERR_SCRIPT_FAILED',
      `recordOutcome ${outcome} answered ${answer.code} ${answer.detail}`,
    );
  }
}
