import type { Clock } from '../clock.js';
import { type RejectReason, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PolicyConfig } from './config.js';
import type { PolicyMetrics } from './policy-metrics.js';
import { type PolicyMode, SEVERITY, moreSevere } from './policy-mode.js';
import type { PolicyStore } from './policy-store.js';
import { WindowCounter } from './window-counter.js';

/**
 * Rejects that say nothing about the order flow, so never count towards a reject storm:
 * - the policy's own answers (POLICY_*): counting them would feed back on itself and hold the mode;
 * - TTL_EXPIRED: the gateway's own lateness (a failover or a backlog longer than the intents' ttl), which
 *   has its own signals (queue lag, failover duration). Counted, every failover longer than the ttl
 *   turned the cluster reduce-only until an operator resumed it, with nothing wrong in the flow.
 */
const NOT_STORM_EVIDENCE: ReadonlySet<RejectReason> = new Set<RejectReason>([
  'POLICY_HALT',
  'POLICY_REDUCE_ONLY',
  'TTL_EXPIRED',
]);

export interface StormGuardDeps {
  readonly store: PolicyStore;
  readonly config: PolicyConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: PolicyMetrics;
  /** Automatic actor recorded on trips, e.g. `storm-guard:gw-1`. */
  readonly actor: string;
}

/**
 * In-process storm detector. The gateway feeds it observations; it trips the cluster policy through the
 * PolicyStore (DEGRADED on error/latency/reject storms, HALT when the broker is down) and decides one thing
 * locally: while the state Redis is unreachable, {@link effectiveMode} is HALT, because nothing can be
 * written there (not even the HALT) and no admit can be made atomically anyway.
 *
 * Trips only escalate (the script refuses anything else), and at most one trip is in flight at a time.
 */
export class StormGuard {
  private readonly broker: WindowCounter;
  private readonly brokerSlow: WindowCounter;
  private readonly redisSlow: WindowCounter;
  private readonly decisions: WindowCounter;
  private consecutiveBrokerFailures = 0;
  private consecutiveRedisFailures = 0;
  private redisDown = false;
  private brokerDownTimer: NodeJS.Timeout | undefined;
  private evaluator: NodeJS.Timeout | undefined;
  private tripping: Promise<void> | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: StormGuardDeps) {
    const { windowMs, windowBuckets } = deps.config;
    this.broker = new WindowCounter(windowMs, windowBuckets);
    this.brokerSlow = new WindowCounter(windowMs, windowBuckets);
    this.redisSlow = new WindowCounter(windowMs, windowBuckets);
    this.decisions = new WindowCounter(windowMs, windowBuckets);
    this.unsubscribe = deps.store.onRefresh((ok, latencyNs) => this.observeRedis(ok, latencyNs));
    deps.metrics.setModeSource(() => this.effectiveMode());
  }

  /** Starts periodic evaluation of the windows. */
  start(): void {
    this.evaluator ??= setInterval(() => this.evaluate(), this.deps.config.evaluateEveryMs);
    this.evaluator.unref();
  }

  stop(): void {
    clearInterval(this.evaluator);
    clearTimeout(this.brokerDownTimer);
    this.evaluator = undefined;
    this.brokerDownTimer = undefined;
    this.unsubscribe();
  }

  /** The mode this process must enforce: the cluster mode, or HALT while the state Redis is unreachable. */
  effectiveMode(): PolicyMode {
    const cluster = this.deps.store.get().mode;
    return this.redisDown ? moreSevere(cluster, 'HALT') : cluster;
  }

  /** True while enough consecutive state-Redis failures have been seen and no success since. */
  get redisUnreachable(): boolean {
    return this.redisDown;
  }

  /**
   * One broker call: ok=false for GW_ERR_BROKER_UNAVAILABLE/TIMEOUT (a venue business reject is ok=true:
   * the broker answered). Latency in ns.
   */
  observeBroker(ok: boolean, latencyNs: number | bigint): void {
    const now = this.deps.clock.monoMs();
    this.broker.add(!ok, now);
    if (ok) this.brokerSlow.add(Number(latencyNs) >= this.deps.config.brokerSlowNs, now);
    if (ok) {
      this.consecutiveBrokerFailures = 0;
      return;
    }
    this.consecutiveBrokerFailures += 1;
    if (this.consecutiveBrokerFailures >= this.deps.config.brokerDownConsecutiveFailures) {
      this.escalate('HALT', `broker down: ${this.consecutiveBrokerFailures} consecutive broker failures`);
    }
  }

  /** Broker connection state changes (TcpBroker.onConnectionChange). Down for brokerDownMs → HALT. */
  observeBrokerConnection(connected: boolean): void {
    clearTimeout(this.brokerDownTimer);
    this.brokerDownTimer = undefined;
    if (connected) return;
    this.armBrokerDownTimer(this.deps.config.brokerDownMs);
  }

  /** Trips HALT every `brokerDownMs` while the connection stays down (a refused or failed trip is retried). */
  private armBrokerDownTimer(downForMs: number): void {
    const { brokerDownMs } = this.deps.config;
    this.brokerDownTimer = setTimeout(() => {
      this.escalate('HALT', `broker down: connection lost for ${downForMs} ms`);
      this.armBrokerDownTimer(downForMs + brokerDownMs);
    }, brokerDownMs);
    this.brokerDownTimer.unref();
  }

  /** One state-Redis call (the PolicyStore's own refreshes are observed automatically). */
  observeRedis(ok: boolean, latencyNs: number | bigint): void {
    if (!ok) {
      this.consecutiveRedisFailures += 1;
      if (!this.redisDown && this.consecutiveRedisFailures >= this.deps.config.redisDownConsecutiveFailures) {
        this.setRedisDown(true);
      }
      return;
    }
    this.consecutiveRedisFailures = 0;
    this.redisSlow.add(Number(latencyNs) >= this.deps.config.redisSlowNs, this.deps.clock.monoMs());
    if (this.redisDown) this.setRedisDown(false);
  }

  /** One decision: null reason for accepted. Some rejects are not counted (see NOT_STORM_EVIDENCE). */
  observeDecision(reason: RejectReason | null): void {
    if (reason !== null && NOT_STORM_EVIDENCE.has(reason)) return;
    this.decisions.add(reason !== null, this.deps.clock.monoMs());
  }

  /** Checks every window now (the timer calls this; tests call it after driving the clock). */
  evaluate(): void {
    const c = this.deps.config;
    const now = this.deps.clock.monoMs();
    if (this.broker.exceeds(now, c.minSamples, c.brokerErrorPerMille)) {
      this.escalate('DEGRADED', `broker error rate ≥ ${c.brokerErrorPerMille}‰ over ${c.windowMs} ms`);
    } else if (this.brokerSlow.exceeds(now, c.minSamples, c.brokerSlowPerMille)) {
      this.escalate('DEGRADED', `broker calls ≥ ${c.brokerSlowNs} ns at ≥ ${c.brokerSlowPerMille}‰`);
    } else if (this.redisSlow.exceeds(now, c.minSamples, c.redisSlowPerMille)) {
      this.escalate('DEGRADED', `state Redis calls ≥ ${c.redisSlowNs} ns at ≥ ${c.redisSlowPerMille}‰`);
    } else if (this.decisions.exceeds(now, c.minSamples, c.rejectStormPerMille)) {
      this.escalate('DEGRADED', `reject storm: rejects ≥ ${c.rejectStormPerMille}‰ of decisions`);
    }
  }

  /** Resolves when the trip in flight (if any) has finished; for tests and orderly shutdown. */
  async settled(): Promise<void> {
    await this.tripping;
  }

  private escalate(mode: PolicyMode, reason: string): void {
    if (this.tripping || SEVERITY[this.deps.store.get().mode] >= SEVERITY[mode]) return;
    this.tripping = this.deps.store
      .trip(mode, reason, this.deps.actor)
      .then((result) => {
        if (result.outcome !== 'CHANGED') {
          this.deps.logger.info({ mode, reason, outcome: result.outcome }, 'storm guard trip not applied');
        }
      })
      .catch((err: unknown) => {
        if (isGatewayError(err, 'GW_ERR_NOT_LEADER')) {
          this.deps.logger.debug({ mode, reason }, 'storm guard trip skipped: this process holds no epoch');
        } else {
          this.deps.logger.error({ err, mode, reason }, 'storm guard trip failed');
        }
      })
      .finally(() => {
        this.tripping = undefined;
      });
  }

  private setRedisDown(down: boolean): void {
    const cluster = this.deps.store.get().mode;
    const from = down ? cluster : moreSevere(cluster, 'HALT');
    this.redisDown = down;
    const to = this.effectiveMode();
    if (from !== to) this.deps.metrics.transitions.inc({ from, to, actor_kind: 'local' });
    this.deps.logger[down ? 'error' : 'warn'](
      { from, to, consecutive_failures: this.consecutiveRedisFailures },
      down ? 'state Redis unreachable: local HALT' : 'state Redis reachable again: local HALT lifted',
    );
  }
}
