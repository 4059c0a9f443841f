import type { Redis } from 'ioredis';
import type { Completion } from '../channel/intent-consumer.js';
import type { IntentEnvelope } from '../contracts/intent.js';
import { GatewayError } from '../errors.js';
import type { LevelLimits } from '../exposure/exposure-limits.js';
import type { Keyspace } from '../keys.js';
import type { PolicyMode } from '../policy/policy-mode.js';
import { asRedisError } from '../redis/connect.js';
import type { Scripts } from '../redis/scripts.js';
import { GatewayScriptCode } from './script-codes.js';

export interface AdmitRequest {
  readonly envelope: IntentEnvelope;
  readonly clientOrderId: string;
  readonly epoch: number;
  readonly policyFloor: PolicyMode;
  readonly nowMs: number;
  readonly deadlineMs: number;
  readonly limits: LevelLimits;
  readonly maxTrackedSymbols: number;
}

export interface ScriptAnswer {
  readonly code: GatewayScriptCode;
  /** The script's second value: notional, epoch, stored decision, state or a reject detail. */
  readonly detail: string;
  readonly extra: number;
}

export type Outcome = 'DISPATCHED' | 'REJECTED' | 'EXPIRED' | 'ABORTED';

export interface OutcomeRequest {
  readonly clientOrderId: string;
  readonly account: string;
  readonly idempotencyKey: string;
  readonly epoch: number;
  readonly outcome: Outcome;
  /** Serialized decision ("" for ABORTED). */
  readonly decision: string;
  readonly venueState: string;
  /** The dispatch attempt the caller owns; required for EXPIRED and ABORTED (compare-and-set). */
  readonly attempt?: number;
  /** The intent-stream entry to complete with a recorded DISPATCHED/REJECTED (answer `extra` = 1). */
  readonly completion?: Completion;
}

/**
 * Typed calls of the gateway scripts on the state Redis. Knows the key layout and argument order;
 * decides nothing. A reply the scripts never give becomes GW_ERR_SCRIPT_FAILED; connection failures
 * GW_ERR_REDIS_UNAVAILABLE.
 */
export class GatewayStore {
  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    private readonly keys: Keyspace,
    private readonly decisionTtlMs: number,
  ) {}

  async admit(r: AdmitRequest): Promise<ScriptAnswer> {
    const e = r.envelope;
    const k = this.keys;
    const target = e.target_client_order_id ?? '';
    return this.run(
      'admitIntent',
      [
        k.epoch(),
        k.policy(),
        k.decision(e.idempotency_key),
        k.journal(r.clientOrderId),
        k.journalAdmitted(),
        k.exposure(e.account),
        k.exposureSymbols(e.account),
        k.exposureIdle(e.account),
        target ? k.journal(target) : k.journal(r.clientOrderId),
      ],
      [
        r.epoch,
        r.policyFloor,
        e.kind,
        r.clientOrderId,
        e.idempotency_key,
        e.account,
        e.strategy_id,
        e.symbol,
        e.side,
        e.qty,
        e.price,
        e.tif,
        r.nowMs,
        r.deadlineMs,
        r.limits.symbol,
        r.limits.strategy,
        r.limits.account,
        r.maxTrackedSymbols,
        e.trace_id,
        e.intent_id,
        e.source_ts_ns,
        target,
      ],
    );
  }

  /** The decision stored for an idempotency key (the dedup window), or null. */
  async storedDecision(idempotencyKey: string): Promise<string | null> {
    try {
      return await this.redis.get(this.keys.decision(idempotencyKey));
    } catch (err) {
      throw asRedisError(err);
    }
  }

  async recordOutcome(r: OutcomeRequest): Promise<ScriptAnswer> {
    const k = this.keys;
    const c = r.completion;
    return this.run(
      'recordOutcome',
      [
        k.epoch(),
        k.journal(r.clientOrderId),
        k.journalAdmitted(),
        k.decision(r.idempotencyKey),
        k.exposure(r.account),
        k.exposureSymbols(r.account),
        k.exposureIdle(r.account),
        k.journalOpen(),
        c?.streamKey ?? '',
        c?.replyTo ?? '',
      ],
      [
        r.epoch,
        r.outcome,
        r.decision,
        this.decisionTtlMs,
        r.venueState,
        r.clientOrderId,
        Date.now(),
        r.attempt ?? '',
        c?.group ?? '',
        c?.entryId ?? '',
        c?.replyMaxLen ?? 0,
        c?.replyTtlMs ?? 0,
        r.idempotencyKey,
      ],
    );
  }

  /**
   * Claims a new dispatch attempt of an orphaned ADMITTED entry (compare-and-set on `attempt`, orphan
   * age checked by the state Redis clock). ADMITTED answer: `extra` is the new attempt number.
   */
  async markAttempt(
    clientOrderId: string,
    epoch: number,
    attempt: number,
    orphanAgeMs: number,
  ): Promise<ScriptAnswer> {
    const k = this.keys;
    const answer = await this.run(
      'markAttempt',
      [k.epoch(), k.journal(clientOrderId), k.journalAdmitted()],
      [epoch, attempt, orphanAgeMs, clientOrderId],
    );
    return answer.code === GatewayScriptCode.ADMITTED ? { ...answer, extra: Number(answer.detail) } : answer;
  }

  async applyExecution(
    clientOrderId: string,
    account: string,
    epoch: number,
    cumQty: number,
    terminal: boolean,
    venueState: string,
  ): Promise<ScriptAnswer> {
    const k = this.keys;
    return this.run(
      'applyExecution',
      [
        k.epoch(),
        k.journal(clientOrderId),
        k.exposure(account),
        k.exposureSymbols(account),
        k.exposureIdle(account),
        k.journalOpen(),
      ],
      [epoch, cumQty, terminal ? 1 : 0, venueState, this.decisionTtlMs, clientOrderId],
    );
  }

  private async run(name: string, keys: string[], args: (string | number)[]): Promise<ScriptAnswer> {
    let reply: unknown;
    try {
      reply = await this.scripts.run(this.redis, name, keys, args);
    } catch (err) {
      throw asRedisError(err);
    }
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || !(reply[0] in GatewayScriptCode)) {
      throw new GatewayError('GW_ERR_SCRIPT_FAILED', `${name} answered ${JSON.stringify(reply)}`);
    }
    return {
      code: reply[0] as GatewayScriptCode,
      detail: reply[1] === undefined || reply[1] === null ? '' : String(reply[1]),
      extra: typeof reply[2] === 'number' ? reply[2] : 0,
    };
  }
}
