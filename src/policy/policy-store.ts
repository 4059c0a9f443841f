import type { Redis } from 'ioredis';
import { type Clock, nowNs, systemClock } from '../clock.js';
import { GatewayError } from '../errors.js';
import type { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import { asRedisError } from '../redis/connect.js';
import type { Scripts } from '../redis/scripts.js';
import type { PolicyConfig } from './config.js';
import type { PolicyMetrics } from './policy-metrics.js';
import { OPERATOR_ACTOR, type PolicyMode, type PolicyState, actorKind, isPolicyMode } from './policy-mode.js';

/** Status codes of setPolicyMode-3.lua. */
export enum PolicyScriptCode {
  CHANGED = 1,
  UNCHANGED = 0,
  NOT_ESCALATION = -1,
  FENCED = -2,
  BAD_MODE = -3,
  BAD_ACTOR = -4,
}

export type TransitionOutcome = 'CHANGED' | 'UNCHANGED' | 'NOT_ESCALATION';

export interface TransitionResult {
  readonly outcome: TransitionOutcome;
  /** Mode before the call (the current mode when nothing changed). */
  readonly from: PolicyMode;
  readonly to: PolicyMode;
}

export interface PolicyStoreDeps {
  readonly redis: Redis;
  readonly scripts: Scripts;
  readonly keys: Keyspace;
  readonly config: PolicyConfig;
  readonly logger: Logger;
  readonly metrics: PolicyMetrics;
  readonly clock?: Clock;
  /**
   * The caller's fencing epoch for automatic trips. When given, trips are fenced by the script and a null
   * answer (no epoch held: standby, starting) refuses the trip with GW_ERR_NOT_LEADER. When absent, trips
   * are unfenced (tools and tests).
   */
  readonly fencingEpoch?: () => number | null;
}

/** Before the first successful read the mode is unknown, and unknown is treated as HALT (fail safe). */
const UNKNOWN: PolicyState = Object.freeze({
  mode: 'HALT',
  reason: 'policy not read from Redis yet',
  actor: 'local:startup',
  changedTsNs: '0',
});

/**
 * The cluster-wide policy (keys.policy()) as each process sees it. Reads are cached and refreshed every
 * `refreshMs`, so the hot path calls the synchronous {@link get} and never waits on Redis; the admit script
 * reads the hash itself when it needs the mode atomically. Writes go through setPolicyMode-3.lua, which
 * owns the transition rules (automatic trips only escalate; only an operator lowers or leaves HALT).
 */
export class PolicyStore {
  private state: PolicyState = UNKNOWN;
  private known = false;
  /** Bumped by each transition this process writes, so a read that started earlier cannot undo it. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<PolicyState> | undefined;
  private readonly refreshListeners = new Set<(ok: boolean, latencyNs: number) => void>();
  private readonly clock: Clock;

  constructor(private readonly deps: PolicyStoreDeps) {
    this.clock = deps.clock ?? systemClock;
    // The gauge shows the cached cluster mode until a StormGuard takes over with the effective mode.
    deps.metrics.setModeSource(() => this.state.mode);
  }

  /** Reads the policy once (throws GW_ERR_REDIS_UNAVAILABLE if it cannot), then refreshes periodically. */
  async start(): Promise<PolicyState> {
    const state = await this.refresh();
    this.timer ??= setInterval(() => {
      this.refresh().catch(() => {});
    }, this.deps.config.refreshMs);
    this.timer.unref();
    return state;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The cached policy: no I/O. HALT until the first successful read. */
  get(): PolicyState {
    return this.state;
  }

  /** True once the policy has been read from Redis at least once. */
  get isKnown(): boolean {
    return this.known;
  }

  /** Refresh results (ok, latency ns): StormGuard uses them as state-Redis health observations. */
  onRefresh(listener: (ok: boolean, latencyNs: number) => void): () => void {
    this.refreshListeners.add(listener);
    return () => this.refreshListeners.delete(listener);
  }

  /** Re-reads the hash now (concurrent callers share one read). */
  refresh(): Promise<PolicyState> {
    this.refreshing ??= this.readOnce().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Automatic escalation (StormGuard, gateway). Refused (NOT_ESCALATION) unless it raises severity. */
  async trip(mode: PolicyMode, reason: string, actor: string): Promise<TransitionResult> {
    if (actorKind(actor) === 'operator') {
      throw new GatewayError('GW_ERR_INTERNAL', 'trip() is for automatic actors; use operatorSet()', {
        actor,
      });
    }
    let epoch = '';
    if (this.deps.fencingEpoch) {
      const current = this.deps.fencingEpoch();
      // A process that holds no epoch is not dispatching: what it observes must not move the cluster.
      if (current === null)
        throw new GatewayError('GW_ERR_NOT_LEADER', 'automatic policy trip without an epoch');
      epoch = String(current);
    }
    return this.transition(mode, reason, actor, epoch);
  }

  /** Operator command: any mode, including leaving HALT. `operator` is the name without the prefix. */
  async operatorSet(mode: PolicyMode, reason: string, operator: string): Promise<TransitionResult> {
    const actor = `operator:${operator}`;
    if (!OPERATOR_ACTOR.test(actor)) {
      throw new GatewayError('GW_ERR_UNAUTHORIZED', 'operator name must be letters, digits, _ . -', {
        operator,
      });
    }
    return this.transition(mode, reason, actor, '');
  }

  private async transition(
    mode: PolicyMode,
    reason: string,
    actor: string,
    epoch: string,
  ): Promise<TransitionResult> {
    const { redis, scripts, keys, config } = this.deps;
    const changedTsNs = nowNs(this.clock);
    let answer: unknown;
    try {
      answer = await scripts.run(
        redis,
        'setPolicyMode',
        [keys.policy(), keys.epoch(), keys.policyHistory()],
        [mode, reason.slice(0, 512), actor, changedTsNs, epoch, config.historyMaxLen],
      );
    } catch (err) {
      throw asRedisError(err);
    }
    const [code, before] = parseAnswer(answer);
    switch (code) {
      case PolicyScriptCode.CHANGED: {
        this.deps.metrics.transitions.inc({ from: before, to: mode, actor_kind: actorKind(actor) });
        this.deps.logger.warn(
          { from: before, to: mode, reason, actor, changed_ts_ns: changedTsNs },
          'policy transition',
        );
        this.generation += 1;
        this.accept({ mode, reason, actor, changedTsNs });
        return { outcome: 'CHANGED', from: before, to: mode };
      }
      case PolicyScriptCode.UNCHANGED:
        return { outcome: 'UNCHANGED', from: before, to: before };
      case PolicyScriptCode.NOT_ESCALATION:
        return { outcome: 'NOT_ESCALATION', from: before, to: before };
      case PolicyScriptCode.FENCED:
        throw new GatewayError('GW_ERR_FENCED', `policy trip with stale epoch ${epoch}`, { actor, mode });
      default:
        throw new GatewayError('GW_ERR_SCRIPT_FAILED', `setPolicyMode returned ${code}`, { actor, mode });
    }
  }

  private async readOnce(): Promise<PolicyState> {
    const started = process.hrtime.bigint();
    const generation = this.generation;
    let fields: Record<string, string>;
    try {
      fields = await this.deps.redis.hgetall(this.deps.keys.policy());
    } catch (err) {
      this.notify(false, started);
      throw asRedisError(err);
    }
    this.notify(true, started);
    // A missing hash is NORMAL: a fresh cluster starts trading. An unreadable mode is HALT (fail safe).
    const mode = fields.mode === undefined ? 'NORMAL' : isPolicyMode(fields.mode) ? fields.mode : 'HALT';
    const state: PolicyState = Object.freeze({
      mode,
      reason:
        fields.mode !== undefined && mode !== fields.mode
          ? `unreadable mode ${fields.mode}`
          : (fields.reason ?? ''),
      actor: fields.actor ?? '',
      changedTsNs: fields.changed_ts_ns ?? '0',
    });
    if (this.known && state.mode !== this.state.mode) {
      this.deps.logger.warn(
        { from: this.state.mode, to: state.mode, reason: state.reason, actor: state.actor },
        'policy changed in Redis',
      );
    }
    if (generation === this.generation) this.accept(state);
    return this.state;
  }

  private accept(state: PolicyState): void {
    this.state = state;
    this.known = true;
  }

  private notify(ok: boolean, started: bigint): void {
    const latencyNs = Number(process.hrtime.bigint() - started);
    for (const listener of this.refreshListeners) listener(ok, latencyNs);
  }
}

function parseAnswer(answer: unknown): [number, PolicyMode] {
  if (!Array.isArray(answer) || typeof answer[0] !== 'number' || !isPolicyMode(answer[1])) {
    throw new GatewayError('GW_ERR_SCRIPT_FAILED', `setPolicyMode answered ${JSON.stringify(answer)}`);
  }
  return [answer[0], answer[1]];
}
