import type { Clock } from '../src/clock.js';
import { GatewayError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { Claim, SegmentStateStore } from './segment-state-store.js';

/**
 * Keeps one segment claim alive while it loads: renews the lease in Redis every third of its length, and
 * fences itself by the monotonic clock. The claim counts as held only until `lastRenewed + leaseMs -
 * margin`; past that (Redis unreachable, or this process was paused) {@link assertHeld} throws before
 * another INSERT is sent, and the in-flight one is aborted. Redis time decides when others may take the
 * claim over; this side only has to give up no later than that.
 */
export class LeaseKeeper {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private renewedAtMono: number;
  private lost: string | undefined;

  constructor(
    private readonly store: SegmentStateStore,
    private readonly claim: Claim,
    private readonly leaseMs: number,
    private readonly clock: Clock,
    private readonly logger: Logger,
    claimedAtMono: number,
  ) {
    this.renewedAtMono = claimedAtMono;
  }

  /** Aborted when the claim is lost: pass it to the INSERT so it stops at once. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    this.timer = setInterval(() => void this.renew(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Throws GW_ERR_SEGMENT_CLAIM_LOST unless the claim is still safely held. */
  assertHeld(): void {
    const margin = Math.min(1_000, Math.floor(this.leaseMs / 5));
    if (!this.lost && this.clock.monoMs() > this.renewedAtMono + this.leaseMs - margin) {
      this.markLost('lease not renewed in time (Redis unreachable or process paused)');
    }
    if (this.lost) {
      throw new GatewayError('GW_ERR_SEGMENT_CLAIM_LOST', `${this.claim.segmentId}: ${this.lost}`, {
        segmentId: this.claim.segmentId,
      });
    }
  }

  /** Called after a successful CAS that renewed the lease as a side effect (→ LOADING). */
  renewedAt(mono: number): void {
    this.renewedAtMono = mono;
  }

  private async renew(): Promise<void> {
    if (this.lost) return;
    const startedMono = this.clock.monoMs();
    try {
      if (await this.store.renew(this.claim, this.leaseMs)) {
        // The lease runs from when the request was sent, not when the answer came back.
        this.renewedAtMono = startedMono;
      } else {
        this.markLost('claim taken over or finished by another loader');
      }
    } catch (err) {
      this.logger.warn({ err, segment_id: this.claim.segmentId }, 'lease renewal failed; retrying');
      if (this.clock.monoMs() > this.renewedAtMono + this.leaseMs) this.markLost('lease expired');
    }
  }

  private markLost(why: string): void {
    if (this.lost) return;
    this.lost = why;
    this.stop();
    this.controller.abort(new GatewayError('GW_ERR_SEGMENT_CLAIM_LOST', `${this.claim.segmentId}: ${why}`));
  }
}
