import type { Completion, Delivery } from '../channel/intent-consumer.js';
import { Stage, markStage } from '../channel/stage-trace.js';
import type { Clock } from '../clock.js';
import type { Decision } from '../contracts/decision.js';
import { parseDecision } from '../contracts/decision.js';
import { deriveClientOrderId } from '../contracts/idempotency.js';
import type { IntentEnvelope } from '../contracts/intent.js';
import { GatewayError, type RejectReason, isGatewayError } from '../errors.js';
import type { ExposureLimits } from '../exposure/exposure-limits.js';
import type { Logger } from '../log.js';
import { type PolicyMode, moreSevere } from '../policy/policy-mode.js';
import type { DecisionFactory, DecisionSubject } from './decision-factory.js';
import type { DispatchPermit } from './dispatch-permit.js';
import type { AdmittedIntent, Dispatcher } from './dispatcher.js';
import type { EventSink } from './event-sink.js';
import type { GatewayStore } from './gateway-store.js';
import type { GatewayMetrics } from './metrics.js';
import { ADMIT_REJECTS, GatewayScriptCode } from './script-codes.js';

/** Pure pre-trade risk (src/risk/RiskEngine). */
export interface RiskCheck {
  check(envelope: IntentEnvelope): { ok: true } | { ok: false; reason: RejectReason; detail: string };
}

/** This process's local view of the fail-safe policy (StormGuard.effectiveMode()). */
export interface PolicyFloor {
  effectiveMode(): PolicyMode;
  observeDecision?(reason: RejectReason | null): void;
}

export interface IntentPipelineDeps {
  readonly store: GatewayStore;
  readonly dispatcher: Dispatcher;
  readonly risk: RiskCheck;
  readonly limits: ExposureLimits;
  readonly decisions: DecisionFactory;
  readonly events: EventSink;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly policy?: PolicyFloor;
  /** Client order ids this process is dispatching right now (reconciliation skips them). */
  readonly dispatching: Set<string>;
}

const NS_PER_MS = 1_000_000n;

/**
 * The per-intent decision path, the IntentConsumer's handler: ttl → risk (pure) → admit script (epoch,
 * dedup, policy, exposure, journal) → permit check → broker → outcome script. Every business outcome is a
 * Decision. What it throws leaves the stream entry pending (retried, dead-lettered after maxDeliveries):
 * retryable errors, FENCED, IN_FLIGHT twins, and any failure once the intent is ADMITTED (the journal
 * then owns it). An unexpected failure before admission is logged with the trace id and answered with
 * REJECTED INTERNAL_ERROR — nothing was reserved or sent — and never stops the loop.
 */
export class IntentPipeline {
  private permit: DispatchPermit | undefined;

  constructor(private readonly deps: IntentPipelineDeps) {}

  /** The permit admits and dispatches run under; undefined = nothing is decided (GW_ERR_NOT_LEADER). */
  setPermit(permit: DispatchPermit | undefined): void {
    this.permit = permit;
  }

  /** Intents being decided right now. */
  get inFlight(): number {
    return this.deps.metrics.live.inFlight;
  }

  readonly handle = async (delivery: Delivery): Promise<Decision> => {
    const { metrics } = this.deps;
    metrics.live.inFlight++;
    try {
      const decision = await this.decide(delivery.envelope, delivery.completion);
      metrics.countDecision(decision.status, decision.reason ?? 'none');
      this.deps.policy?.observeDecision?.(decision.reason);
      return decision;
    } finally {
      metrics.live.inFlight--;
    }
  };

  private async decide(envelope: IntentEnvelope, completion?: Completion): Promise<Decision> {
    this.deps.events.record('gateway.intent', envelope);
    const subject: DecisionSubject = {
      idempotencyKey: envelope.idempotency_key,
      intentId: envelope.intent_id,
      sourceTsNs: envelope.source_ts_ns,
    };
    let admitted = false;
    try {
      const nowNs = this.deps.clock.wallNs();
      const sourceNs = BigInt(envelope.source_ts_ns);
      this.deps.metrics.queueLag.set(Number(nowNs - sourceNs) / 1e9);
      const nowMs = Number(nowNs / NS_PER_MS);
      const deadlineMs = Number(sourceNs / NS_PER_MS) + envelope.ttl_ms;
      if (nowMs > deadlineMs) {
        return this.rejectUnlessDecided(
          subject,
          'TTL_EXPIRED',
          `deadline ${deadlineMs} ms passed at ${nowMs} ms`,
        );
      }
      if (envelope.kind === 'REPLACE') {
        return this.rejectUnlessDecided(subject, 'REPLACE_NOT_SUPPORTED', 'send CANCEL then NEW');
      }
      const verdict = this.deps.risk.check(envelope);
      if (!verdict.ok) return this.rejectUnlessDecided(subject, verdict.reason, verdict.detail);

      const permit = this.permit;
      if (!permit) throw new GatewayError('GW_ERR_NOT_LEADER', 'gateway is not active');
      const clientOrderId = deriveClientOrderId(envelope.idempotency_key);
      // Read before the admit script starts dispatch attempt 1: the send window counts from here.
      const attemptStartedAt = performance.now();
      const answer = await this.deps.store.admit({
        envelope,
        clientOrderId,
        epoch: permit.epoch,
        policyFloor: this.policyFloor(),
        nowMs,
        deadlineMs,
        limits: this.deps.limits.for(envelope.account, envelope.strategy_id, envelope.symbol),
        maxTrackedSymbols: this.deps.limits.maxTrackedSymbols,
      });
      markStage(envelope.idempotency_key, Stage.ADMITTED);
      switch (answer.code) {
        case GatewayScriptCode.ADMITTED:
          admitted = true;
          return await this.dispatch(envelope, clientOrderId, permit, attemptStartedAt, completion);
        case GatewayScriptCode.FENCED:
          permit.onFenced(Number(answer.detail));
          throw new GatewayError('GW_ERR_FENCED', `epoch ${permit.epoch} < ${answer.detail}`);
        case GatewayScriptCode.DUPLICATE:
          this.deps.metrics.dedupHits.inc({ kind: 'stored' });
          return parseDecision(answer.detail);
        case GatewayScriptCode.IN_FLIGHT:
          this.deps.metrics.dedupHits.inc({ kind: 'in_flight' });
          throw new GatewayError('GW_ERR_INTENT_IN_FLIGHT', clientOrderId);
        case GatewayScriptCode.RESOLVED:
          this.deps.metrics.dedupHits.inc({ kind: 'resolved' });
          return answer.detail === 'DISPATCHED'
            ? this.deps.decisions.accepted(subject, permit.epoch, clientOrderId)
            : this.reject(subject, 'BROKER_REJECT', `journal entry is ${answer.detail}`, permit.epoch);
        default: {
          const reason = ADMIT_REJECTS[answer.code];
          if (!reason) {
            throw new GatewayError('GW_ERR_SCRIPT_FAILED', `admitIntent: ${answer.code} ${answer.detail}`);
          }
          return this.reject(subject, reason, answer.detail, permit.epoch);
        }
      }
    } catch (err) {
      if (admitted || (isGatewayError(err) && (err.retryable || err.code === 'GW_ERR_FENCED'))) throw err;
      this.deps.metrics.errors.inc({ code: isGatewayError(err) ? err.code : 'GW_ERR_INTERNAL' });
      this.deps.logger.error(
        { err, trace_id: envelope.trace_id, idempotency_key: envelope.idempotency_key },
        'intent failed before admission; answered INTERNAL_ERROR',
      );
      return this.reject(subject, 'INTERNAL_ERROR', err instanceof Error ? err.message : String(err), 0);
    }
  }

  private async dispatch(
    envelope: IntentEnvelope,
    clientOrderId: string,
    permit: DispatchPermit,
    attemptStartedAt: number,
    completion: Completion | undefined,
  ): Promise<Decision> {
    const intent: AdmittedIntent = {
      kind: envelope.kind === 'CANCEL' ? 'CANCEL' : 'NEW',
      clientOrderId,
      idempotencyKey: envelope.idempotency_key,
      intentId: envelope.intent_id,
      sourceTsNs: envelope.source_ts_ns,
      traceId: envelope.trace_id,
      account: envelope.account,
      symbol: envelope.symbol,
      side: envelope.side,
      qty: envelope.qty,
      price: envelope.price,
      tif: envelope.tif,
      target: envelope.target_client_order_id ?? '',
      ...(completion ? { completion } : {}),
    };
    if (this.deps.events.enabled) {
      const { completion: _, ...recorded } = intent;
      this.deps.events.record('gateway.dispatch', { ...recorded, epoch: permit.epoch });
    }
    this.deps.dispatching.add(clientOrderId);
    try {
      return await this.deps.dispatcher.dispatch(intent, permit, { number: 1, startedAt: attemptStartedAt });
    } catch (err) {
      this.deps.metrics.errors.inc({ code: isGatewayError(err) ? err.code : 'GW_ERR_INTERNAL' });
      throw err;
    } finally {
      this.deps.dispatching.delete(clientOrderId);
    }
  }

  private policyFloor(): PolicyMode {
    const local = this.deps.policy?.effectiveMode() ?? 'NORMAL';
    return this.deps.events.walHalted ? moreSevere(local, 'HALT') : local;
  }

  /**
   * A reject decided before the admit script (ttl, REPLACE, risk): a replay of a key decided earlier (its
   * ttl long gone, say) is answered with the stored decision instead, as the admit script would. Only
   * these reject paths pay the lookup; the consumer does no pre-check for the gateway.
   */
  private async rejectUnlessDecided(s: DecisionSubject, reason: RejectReason, detail: string) {
    const stored = await this.deps.store.storedDecision(s.idempotencyKey);
    if (stored !== null) {
      this.deps.metrics.dedupHits.inc({ kind: 'stored' });
      return parseDecision(stored);
    }
    return this.reject(s, reason, detail, 0);
  }

  private reject(s: DecisionSubject, reason: RejectReason, detail: string, epoch: number): Decision {
    const decision = this.deps.decisions.rejected(s, reason, detail, epoch, null);
    this.deps.events.record('gateway.decision', decision);
    return decision;
  }
}
