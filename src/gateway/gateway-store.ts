import type { Redis } from 'ioredis';
import type { Completion } from '../channel/intent-consumer.js';
import type { IntentEnvelope } from '../contracts/intent.js';
import { GatewayError } from '../errors.js';
import type { LevelLimits } from '../exposure/exposure-limits.js';
import { JOURNAL_PACKED_FIELD, journalAccount, packJournalImmutable } from '../journal/journal-entry.js';
import type { Keyspace } from '../keys.js';
import type { PolicyMode } from '../policy/policy-mode.js';
import { CallBatcher } from '../redis/call-batcher.js';
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

export interface GatewayStoreOptions {
  /** Most intents (outcomes) per admit (outcome) script call; 1 turns batching off. */
  readonly batchMax?: number;
  /** Batch calls of each script in flight at once before further requests wait and join a batch. */
  readonly batchInFlight?: number;
}

/**
 * Typed calls of the gateway scripts on the state Redis. Knows the key layout and argument order;
 * decides nothing. A reply the scripts never give becomes GW_ERR_SCRIPT_FAILED; connection failures
 * GW_ERR_REDIS_UNAVAILABLE.
 *
 * `admit` and `recordOutcome` are single calls to the caller, batched underneath (CallBatcher): requests
 * made in the same tick or while earlier batches are in flight go out as one script call, which decides
 * them one after the other as separate calls in the same order would.
 */
export class GatewayStore {
  private readonly admits: CallBatcher<AdmitRequest, ScriptAnswer> | undefined;
  private readonly outcomes: CallBatcher<OutcomeRequest, ScriptAnswer> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    private readonly keys: Keyspace,
    private readonly decisionTtlMs: number,
    opts: GatewayStoreOptions = {},
  ) {
    const max = opts.batchMax ?? 32;
    const inFlight = opts.batchInFlight ?? 4;
    // batchMax 1: no batcher at all, one call per request and no bound on calls in flight (as before).
    if (max > 1) {
      this.admits = new CallBatcher((rs) => this.admitMany(rs), max, inFlight);
      this.outcomes = new CallBatcher((rs) => this.recordOutcomes(rs), max, inFlight);
    }
  }

  admit(r: AdmitRequest): Promise<ScriptAnswer> {
    return this.admits ? this.admits.call(r) : this.admitMany([r]).then(first);
  }

  /** Admits `rs` in order in one script call (admitIntent-n); one answer per request. */
  async admitMany(rs: readonly AdmitRequest[]): Promise<ScriptAnswer[]> {
    const k = this.keys;
    const keys: string[] = [k.epoch(), k.policy(), k.journalAdmitted()];
    const args: (string | number)[] = [];
    for (const r of rs) {
      const e = r.envelope;
      const target = e.target_client_order_id ?? '';
      const journal = k.journal(r.clientOrderId);
      keys.push(
        k.decision(e.idempotency_key),
        journal,
        k.exposure(e.account),
        k.exposureSymbols(e.account),
        k.exposureIdle(e.account),
        target ? k.journal(target) : journal,
      );
      const notional = e.kind === 'NEW' ? e.qty * e.price : 0;
      args.push(
        r.epoch,
        r.policyFloor,
        e.kind,
        r.clientOrderId,
        e.account,
        e.strategy_id,
        e.symbol,
        e.side,
        e.qty,
        e.price,
        r.limits.symbol,
        r.limits.strategy,
        r.limits.account,
        r.maxTrackedSymbols,
        target,
        // The journal's immutable values, from the same envelope fields as the arguments above.
        packJournalImmutable({
          kind: e.kind,
          idempotencyKey: e.idempotency_key,
          clientOrderId: r.clientOrderId,
          account: e.account,
          strategy: e.strategy_id,
          symbol: e.symbol,
          side: e.side,
          qty: e.qty,
          price: e.price,
          tif: e.tif,
          notional,
          epoch: r.epoch,
          admittedMs: r.nowMs,
          deadlineMs: r.deadlineMs,
          traceId: e.trace_id,
          intentId: e.intent_id,
          sourceTsNs: e.source_ts_ns,
          target,
        }),
      );
    }
    return this.runMany('admitIntent', keys, args, rs.length, 2);
  }

  /** The account of a journal entry (either layout), or null when there is none. */
  async journalAccount(clientOrderId: string): Promise<string | null> {
    let raw: (string | null)[];
    try {
      raw = await this.redis.hmget(this.keys.journal(clientOrderId), JOURNAL_PACKED_FIELD, 'account');
    } catch (err) {
      throw asRedisError(err);
    }
    return journalAccount(raw[0] ?? null, raw[1] ?? null);
  }

  /** The decision stored for an idempotency key (the dedup window), or null. */
  async storedDecision(idempotencyKey: string): Promise<string | null> {
    try {
      return await this.redis.get(this.keys.decision(idempotencyKey));
    } catch (err) {
      throw asRedisError(err);
    }
  }

  recordOutcome(r: OutcomeRequest): Promise<ScriptAnswer> {
    return this.outcomes ? this.outcomes.call(r) : this.recordOutcomes([r]).then(first);
  }

  /** Records `rs` in order in one script call (recordOutcome-n); one answer per request. */
  async recordOutcomes(rs: readonly OutcomeRequest[]): Promise<ScriptAnswer[]> {
    const k = this.keys;
    const keys: string[] = [k.epoch(), k.journalAdmitted(), k.journalOpen()];
    const args: (string | number)[] = [];
    const now = Date.now();
    for (const r of rs) {
      const c = r.completion;
      keys.push(
        k.journal(r.clientOrderId),
        k.decision(r.idempotencyKey),
        k.exposure(r.account),
        k.exposureSymbols(r.account),
        k.exposureIdle(r.account),
        c?.streamKey ?? '',
        c?.replyTo ?? '',
      );
      args.push(
        r.epoch,
        r.outcome,
        r.decision,
        this.decisionTtlMs,
        r.venueState,
        r.clientOrderId,
        now,
        r.attempt ?? '',
        c?.group ?? '',
        c?.entryId ?? '',
        c?.replyMaxLen ?? 0,
        c?.replyTtlMs ?? 0,
        r.idempotencyKey,
      );
    }
    return this.runMany('recordOutcome', keys, args, rs.length, 3);
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

  /** Runs a batch script and splits its flat reply (`width` values per request) into answers. */
  private async runMany(
    name: string,
    keys: string[],
    args: (string | number)[],
    n: number,
    width: 2 | 3,
  ): Promise<ScriptAnswer[]> {
    let reply: unknown;
    try {
      reply = await this.scripts.run(this.redis, name, keys, args);
    } catch (err) {
      throw asRedisError(err);
    }
    if (!Array.isArray(reply) || reply.length !== n * width) {
      throw new GatewayError('GW_ERR_SCRIPT_FAILED', `${name} answered ${JSON.stringify(reply)}`);
    }
    const answers: ScriptAnswer[] = [];
    for (let i = 0; i < reply.length; i += width) {
      const code: unknown = reply[i];
      const detail: unknown = reply[i + 1];
      const extra: unknown = width === 3 ? reply[i + 2] : 0;
      // A code the scripts never give fails that request alone (BAD_ARGUMENT → GW_ERR_SCRIPT_FAILED).
      const known = typeof code === 'number' && code in GatewayScriptCode;
      answers.push({
        code: known ? (code as GatewayScriptCode) : GatewayScriptCode.BAD_ARGUMENT,
        detail: !known
          ? `${name} answered code ${JSON.stringify(code)}`
          : detail === undefined || detail === null
            ? ''
            : String(detail),
        extra: typeof extra === 'number' ? extra : 0,
      });
    }
    return answers;
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

function first(answers: ScriptAnswer[]): ScriptAnswer {
  return answers[0] as ScriptAnswer;
}
