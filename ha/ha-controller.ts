import { type Clock, nowNs, systemClock } from '../src/clock.js';
import { GatewayError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { Activatable } from './activatable.js';
import type { HaConfig } from './config.js';
import type { EpochSource } from './epoch-source.js';
import type { HaMetrics } from './ha-metrics.js';
import type { Lease, LeaseKeeper, LeaseView } from './lease-keeper.js';
import { LeasePermit } from './lease-permit.js';
import { type Role, canTransition } from './role.js';

type ControllerConfig = Pick<
  HaConfig,
  | 'ttlMs'
  | 'renewIntervalMs'
  | 'acquireRetryMs'
  | 'retryJitterMs'
  | 'safetyMarginMs'
  | 'stepDownTimeoutMs'
  | 'standbyHoldoffMs'
>;

export interface HaTransition {
  readonly processId: string;
  readonly from: Role;
  readonly to: Role;
  readonly epoch: number;
  readonly reason: string;
  readonly tsNs: string;
}

export interface HaStatus {
  readonly processId: string;
  readonly role: Role;
  readonly epoch: number;
  readonly mayDispatch: boolean;
  readonly leaseRemainingMs: number;
  readonly failovers: number;
  /** Last takeover by this process: lease won → activate() done (epoch INCR, reconcile, claim). */
  readonly lastFailoverMs: number | null;
  readonly lastTransition: HaTransition | null;
}

export interface StepDownReport {
  readonly processId: string;
  readonly epoch: number;
  readonly reason: string;
  /** Intents read but unanswered when the step-down began (null: the target cannot tell). */
  readonly inFlightAtStepDown: number | null;
  /** Wall-clock instants (ns, decimal strings) for cross-process reports. */
  readonly stepDownStartedTsNs: string;
  readonly releasedTsNs: string;
  readonly drainMs: number;
  /** False when draining outlived stepDownTimeoutMs and the lease was released anyway. */
  readonly drained: boolean;
  /** True when the lease was lost while draining (the step-down became a fence). */
  readonly fenced: boolean;
}

export interface HaControllerDeps {
  readonly processId: string;
  readonly config: ControllerConfig;
  readonly keeper: LeaseKeeper;
  readonly epochs: EpochSource;
  readonly target: Activatable;
  readonly metrics: HaMetrics;
  readonly logger: Logger;
  readonly clock?: Clock;
}

interface Term {
  readonly epoch: number;
  readonly permit: LeasePermit;
  lease: Lease;
  fenceTimer: NodeJS.Timeout | undefined;
  readonly ended: Promise<void>;
  end(): void;
}

/**
 * The role state machine of one gateway process (see role.ts for the legal paths).
 *
 * STANDBY: the target stays warm (connections open, scripts loaded). After a failed attempt the standby
 * inspects the lease nodes and tries again when a majority can next grant the lease (the holder's key
 * expires, or it may be broken because the holder is dead), or after `acquireRetryMs` ± jitter, whichever
 * comes first. On winning: INCR the epoch, build a {@link LeasePermit}, go ACTIVE, start renewing, then
 * `target.activate(permit)`. ACTIVE: renew every `renewIntervalMs`; a renewal that fails suspends
 * dispatching at once; the term is FENCED when the lease is lost, when it could expire within the safety
 * margin (a timer, backed by the permit's own clock check), when the lease connections to a majority of
 * nodes close, or on any FENCED script answer; a fenced term deactivates the target, releases what it still
 * holds and returns to STANDBY.
 */
export class HaController {
  private role: Role = 'STANDBY';
  private term: Term | undefined;
  private lastEpoch = 0;
  private failovers = 0;
  private lastFailoverMs: number | null = null;
  private lastTransition: HaTransition | null = null;
  private holdoffUntilMs = 0;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private deactivating: Promise<void> = Promise.resolve();
  private readonly listeners: Array<(t: HaTransition) => void> = [];
  /** Resolves at the next role transition (then replaced), so waiting loops never spin. */
  private roleChanged: Promise<void>;
  private signalRoleChanged: () => void = () => {};
  private readonly clock: Clock;
  /** Why the next promotion happens (logged with the transition). */
  private winReason = 'won the lease';

  constructor(private readonly deps: HaControllerDeps) {
    this.clock = deps.clock ?? systemClock;
    this.roleChanged = this.nextRoleChange();
    // A standby may break the lease of a holder whose lease connections are gone; so a live leader whose
    // connections to a majority closed must stop at once, before such a break can land (docs/ha.md).
    deps.keeper.onDisconnect((connected) => {
      const term = this.term;
      if (term && connected < deps.keeper.quorum) {
        deps.metrics.connectionFences.inc();
        this.fence(
          term,
          `lease connections open to ${connected}/${deps.keeper.nodes} nodes, below a majority`,
        );
      }
    });
  }

  private nextRoleChange(): Promise<void> {
    return new Promise((resolve) => {
      this.signalRoleChanged = resolve;
    });
  }

  /** Starts contending for the lease. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.contend();
  }

  /** Steps down if leading (planned, drains in-flight), stops contending, resolves when idle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (this.role === 'ACTIVE') await this.stepDown('shutdown').catch(() => undefined);
    const term = this.term;
    if (term) await term.ended;
    await this.loop;
    await this.deactivating;
  }

  onTransition(listener: (t: HaTransition) => void): void {
    this.listeners.push(listener);
  }

  /** The current term's permit; undefined unless ACTIVE or STEPPING_DOWN. */
  permit(): LeasePermit | undefined {
    return this.term?.permit;
  }

  status(): HaStatus {
    const permit = this.term?.permit;
    return {
      processId: this.deps.processId,
      role: this.role,
      epoch: this.lastEpoch,
      mayDispatch: permit?.mayDispatch() ?? false,
      leaseRemainingMs: permit ? Math.max(0, Math.floor(permit.remainingMs())) : 0,
      failovers: this.failovers,
      lastFailoverMs: this.lastFailoverMs,
      lastTransition: this.lastTransition,
    };
  }

  leaseRemainingSeconds(): number {
    const permit = this.term?.permit;
    return permit ? permit.remainingMs() / 1000 : 0;
  }

  /**
   * Planned failover: stop reading, let in-flight intents finish (bounded by stepDownTimeoutMs; the lease
   * keeps being renewed meanwhile), then revoke the permit, release the lease and hold off so a standby
   * wins. Throws GW_ERR_NOT_LEADER unless ACTIVE.
   */
  async stepDown(reason: string): Promise<StepDownReport> {
    const term = this.term;
    if (!term || this.role !== 'ACTIVE') throw new GatewayError('GW_ERR_NOT_LEADER', `role is ${this.role}`);
    const startedMs = this.clock.monoMs();
    const stepDownStartedTsNs = nowNs(this.clock);
    const inFlightAtStepDown = this.deps.target.inFlight?.() ?? null;
    term.permit.startDraining();
    this.transition('STEPPING_DOWN', reason);
    const drain = this.deactivateTarget();
    const drained = await Promise.race([
      drain.then(() => true),
      sleep(this.deps.config.stepDownTimeoutMs).then(() => false),
    ]);
    if (!drained) this.deps.logger.warn({ reason }, 'step-down drain timed out; releasing the lease anyway');
    const fenced = this.term !== term;
    if (!fenced) {
      term.permit.revoke(`stepped down: ${reason}`);
      await this.endTerm(term);
      this.holdoffUntilMs = this.clock.monoMs() + this.deps.config.standbyHoldoffMs;
      this.transition('STANDBY', `stepped down: ${reason}`);
    }
    return {
      processId: this.deps.processId,
      epoch: term.epoch,
      reason,
      inFlightAtStepDown,
      stepDownStartedTsNs,
      releasedTsNs: nowNs(this.clock),
      drainMs: Math.round(this.clock.monoMs() - startedMs),
      drained,
      fenced,
    };
  }

  /** ready = may dispatch now; the detail says why not. */
  readiness(): { ready: boolean; detail: Record<string, unknown> } {
    const status = this.status();
    return {
      ready: status.mayDispatch,
      detail: {
        role: status.role,
        epoch: status.epoch,
        lease_remaining_ms: status.leaseRemainingMs,
        revoked: this.term?.permit.revoked ?? null,
      },
    };
  }

  private async contend(): Promise<void> {
    const { keeper, logger } = this.deps;
    while (!this.stopped) {
      if (this.role !== 'STANDBY') {
        await this.roleChanged;
        continue;
      }
      const holdoff = this.holdoffUntilMs - this.clock.monoMs();
      if (holdoff > 0) {
        await this.sleepAbortable(holdoff);
        continue;
      }
      let lease: Lease | null = null;
      try {
        lease = await keeper.tryAcquire();
      } catch (err) {
        logger.warn({ err }, 'lease acquisition attempt failed');
      }
      if (lease && this.stopped) {
        await keeper.release(lease);
        break;
      }
      if (lease) {
        await this.promote(lease);
        continue;
      }
      this.winReason = 'won the lease';
      const wait = await this.nextAttemptInMs();
      if (wait > 0 && !this.stopped) await this.sleepAbortable(wait);
    }
  }

  /**
   * After a failed attempt: inspect the nodes; break a dead holder's lease when that frees a majority now
   * (then retry at once), otherwise wait until a majority can next grant the lease — the PTTL of the
   * holder's keys, so the retry lands at expiry instead of up to one poll later — or one poll interval,
   * whichever is sooner (polling is what notices a holder that just died).
   */
  private async nextAttemptInMs(): Promise<number> {
    const { config, keeper, logger, metrics } = this.deps;
    const poll = jittered(config.acquireRetryMs, config.retryJitterMs);
    let view: LeaseView;
    try {
      view = await keeper.inspect();
    } catch (err) {
      logger.debug({ err }, 'lease inspection failed');
      return poll;
    }
    if (view.majorityFreeInMs === null) return poll;
    if (view.majorityFreeInMs === 0 && view.breakableNow > 0) {
      const broken = await keeper.breakDead(view);
      if (broken > 0) {
        metrics.deadHolderBreaks.inc(broken);
        const holders = [...new Set(view.nodes.filter((n) => n.holderGone).map((n) => n.token))];
        logger.warn(
          { broken, holders },
          'broke the lease of a dead holder (no lease connection, not renewed)',
        );
        this.winReason = `won the lease after breaking a dead holder's key on ${broken} node(s)`;
        return 0;
      }
      return poll;
    }
    // +1 ms: PTTL is rounded down. A majority free now but the attempt just lost a race: brief pause.
    return Math.min(poll, view.majorityFreeInMs === 0 ? 5 : view.majorityFreeInMs + 1);
  }

  private async promote(lease: Lease): Promise<void> {
    const { config, keeper, epochs, logger, metrics, target } = this.deps;
    const wonAtMs = this.clock.monoMs();
    // A previous term's deactivate (a drain that outlived its timeout) must finish before a new activate.
    await this.deactivating;
    let epoch: number;
    try {
      epoch = await epochs.next();
    } catch (err) {
      logger.error({ err }, 'won the lease but cannot INCR the fencing epoch; releasing it');
      await keeper.release(lease);
      this.holdoffUntilMs = this.clock.monoMs() + config.acquireRetryMs;
      return;
    }
    if (this.clock.monoMs() >= lease.validUntilMs - config.safetyMarginMs) {
      logger.warn({ epoch }, 'lease nearly expired before the epoch was taken; not promoting');
      await keeper.release(lease);
      return;
    }
    let endTerm = () => {};
    const ended = new Promise<void>((resolve) => {
      endTerm = resolve;
    });
    const permit: LeasePermit = new LeasePermit(
      epoch,
      lease.validUntilMs,
      config.safetyMarginMs,
      this.clock,
      (current) => this.onFencedAnswer(permit, current),
      () => keeper.connectedNodes() >= keeper.quorum,
    );
    const term: Term = { epoch, permit, lease, fenceTimer: undefined, ended, end: endTerm };
    this.term = term;
    this.lastEpoch = epoch;
    this.failovers += 1;
    metrics.failovers.inc();
    metrics.epoch.set(epoch);
    this.transition('ACTIVE', this.winReason);
    this.winReason = 'won the lease';
    this.armFenceTimer(term);
    void this.renewLoop(term);
    if (keeper.connectedNodes() < keeper.quorum) {
      // A lease connection closed between winning and here, when no term was there to fence.
      this.fence(term, 'lease connections to a majority closed while taking the epoch');
      return;
    }
    try {
      await target.activate(permit);
    } catch (err) {
      logger.error({ err, epoch }, 'activation failed; giving up the term');
      this.fence(term, `activation failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.term !== term) {
      // Fenced while activating: the fence's deactivate may have run before activation finished.
      await this.deactivateTarget();
      return;
    }
    this.lastFailoverMs = Math.round(this.clock.monoMs() - wonAtMs);
    metrics.lastFailover.set(this.lastFailoverMs / 1000);
    logger.info({ epoch, takeover_ms: this.lastFailoverMs }, 'activated: dispatching under the lease');
  }

  private async renewLoop(term: Term): Promise<void> {
    const { config, keeper, logger, metrics } = this.deps;
    let failing = false;
    while (this.term === term) {
      const pause = failing ? config.acquireRetryMs : config.renewIntervalMs;
      const endedEarly = await Promise.race([sleep(pause).then(() => false), term.ended.then(() => true)]);
      if (endedEarly || this.term !== term) return;
      const outcome = await keeper
        .renew(term.lease)
        .catch((err: unknown) => ({ ok: false as const, lost: false, reason: String(err) }));
      if (this.term !== term) return;
      if (outcome.ok) {
        term.lease = outcome.lease;
        term.permit.renewed(outcome.lease.validUntilMs);
        this.armFenceTimer(term);
        if (failing) logger.info({ epoch: term.epoch }, 'lease renewal recovered; dispatching again');
        failing = false;
        continue;
      }
      metrics.renewFailures.inc({ kind: outcome.lost ? 'lost' : 'unanswered' });
      if (outcome.lost) {
        this.fence(term, `lease lost: ${outcome.reason}`);
        return;
      }
      if (!failing)
        logger.warn(
          { epoch: term.epoch, reason: outcome.reason },
          'lease renewal failed; dispatch suspended',
        );
      failing = true;
      term.permit.renewalFailed();
    }
  }

  /** Fires when the lease could expire within the safety margin; re-arms itself after each renewal. */
  private armFenceTimer(term: Term): void {
    if (term.fenceTimer) clearTimeout(term.fenceTimer);
    const due = term.permit.fenceAtMs() - this.clock.monoMs();
    term.fenceTimer = setTimeout(
      () => {
        if (this.term !== term) return;
        if (this.clock.monoMs() >= term.permit.fenceAtMs())
          this.fence(term, 'lease could expire within the safety margin');
        else this.armFenceTimer(term);
      },
      Math.max(0, Math.ceil(due)),
    );
  }

  private onFencedAnswer(permit: LeasePermit, currentEpoch: number): void {
    this.deps.metrics.fencedAnswers.inc();
    const term = this.term;
    if (term && term.permit === permit)
      this.fence(term, `FENCED answer: epoch ${currentEpoch} is newer than ${term.epoch}`);
  }

  /** Unplanned loss of leadership: stop dispatching now, then clean up and return to STANDBY. */
  private fence(term: Term, reason: string): void {
    if (this.term !== term || (this.role !== 'ACTIVE' && this.role !== 'STEPPING_DOWN')) return;
    term.permit.revoke(reason);
    // A step-down already started the drain; a second deactivate would only queue behind it.
    const deactivated = this.role === 'STEPPING_DOWN' ? this.deactivating : this.deactivateTarget();
    this.transition('FENCED', reason);
    void this.endTerm(term).then(async () => {
      await deactivated;
      this.holdoffUntilMs = this.clock.monoMs() + this.deps.config.standbyHoldoffMs;
      this.transition('STANDBY', `after fence: ${reason}`);
      this.wake?.();
    });
  }

  private deactivateTarget(): Promise<void> {
    const run = this.deactivating.then(() =>
      this.deps.target.deactivate().catch((err: unknown) => {
        this.deps.logger.error({ err }, 'target deactivate failed');
      }),
    );
    this.deactivating = run;
    return run;
  }

  private async endTerm(term: Term): Promise<void> {
    if (term.fenceTimer) clearTimeout(term.fenceTimer);
    if (this.term === term) this.term = undefined;
    term.end();
    await this.deps.keeper.release(term.lease);
  }

  private transition(to: Role, reason: string): void {
    const from = this.role;
    if (!canTransition(from, to)) {
      this.deps.logger.error({ from, to, reason }, 'illegal HA transition refused');
      return;
    }
    this.role = to;
    const signal = this.signalRoleChanged;
    this.roleChanged = this.nextRoleChange();
    signal();
    const event: HaTransition = {
      processId: this.deps.processId,
      from,
      to,
      epoch: this.lastEpoch,
      reason,
      tsNs: nowNs(this.clock),
    };
    this.lastTransition = event;
    this.deps.metrics.setRole(to);
    this.deps.metrics.transitions.inc({ from, to });
    const level = to === 'FENCED' ? 'warn' : 'info';
    this.deps.logger[level]({ from, to, epoch: event.epoch, reason }, 'ha role transition');
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.deps.logger.error({ err }, 'ha transition listener failed');
      }
    }
  }

  private sleepAbortable(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function jittered(base: number, jitter: number): number {
  return Math.max(0, base + Math.round((Math.random() * 2 - 1) * jitter));
}
