import type { Clock } from '../src/clock.js';
import type { DispatchPermit } from '../src/gateway/dispatch-permit.js';

/**
 * The {@link DispatchPermit} of one leadership term: fixed epoch, validity from the lease.
 *
 * `mayDispatch()` reads the monotonic clock on every call, so it is correct even when timers run late
 * (event-loop stall, SIGSTOP): it answers true only while the lease is still valid for longer than the
 * safety margin *at this instant*, renewal is not failing, this process still has its lease connections
 * open to a majority of the lease nodes (so a standby cannot see it as dead and break the lease while it
 * dispatches; see docs/ha.md, dead-holder detection), and nothing revoked the term. A term is
 * revoked for good (FENCED answer, lease lost, step-down finished); a new term gets a new permit.
 */
export class LeasePermit implements DispatchPermit {
  private validUntilMs: number;
  private revokedReason: string | undefined;
  private renewalFailing = false;
  private draining = false;

  constructor(
    readonly epoch: number,
    validUntilMs: number,
    private readonly safetyMarginMs: number,
    private readonly clock: Clock,
    private readonly fenced: (currentEpoch: number) => void,
    /** Lease connections open to a majority of nodes, read synchronously (connection status, no I/O). */
    private readonly leaseReachable: () => boolean = () => true,
  ) {
    this.validUntilMs = validUntilMs;
  }

  mayDispatch(): boolean {
    return (
      this.revokedReason === undefined &&
      !this.renewalFailing &&
      this.clock.monoMs() < this.validUntilMs - this.safetyMarginMs &&
      this.leaseReachable()
    );
  }

  onFenced(currentEpoch: number): void {
    if (this.revokedReason === undefined) this.revokedReason = `fenced by epoch ${currentEpoch}`;
    this.fenced(currentEpoch);
  }

  /** Lease time left on the monotonic clock (margin not subtracted); ≤ 0 once expired. */
  remainingMs(): number {
    return this.validUntilMs - this.clock.monoMs();
  }

  /** Monotonic instant at which `mayDispatch()` turns false unless the lease is renewed. */
  fenceAtMs(): number {
    return this.validUntilMs - this.safetyMarginMs;
  }

  get revoked(): string | undefined {
    return this.revokedReason;
  }

  /** True while a planned step-down drains in-flight intents (they may still dispatch; nothing new is read). */
  get isDraining(): boolean {
    return this.draining;
  }

  renewed(validUntilMs: number): void {
    // Validity only moves forward: a late answer to an older renewal must not shorten nor lengthen wrongly.
    if (validUntilMs > this.validUntilMs) this.validUntilMs = validUntilMs;
    this.renewalFailing = false;
  }

  renewalFailed(): void {
    this.renewalFailing = true;
  }

  startDraining(): void {
    this.draining = true;
  }

  revoke(reason: string): void {
    if (this.revokedReason === undefined) this.revokedReason = reason;
  }
}
