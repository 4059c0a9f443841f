/**
 * Integer token bucket. Tokens are held in milli-tokens so refill over a whole number of milliseconds is
 * exact: `ratePerSec` tokens/s is exactly `ratePerSec` milli-tokens per ms. Time comes from the caller (a
 * monotonic clock in ms), so tests drive it deterministically; a clock that steps back refills nothing.
 */
export const MILLI = 1_000;

export class TokenBucket {
  private milliTokens: number;
  private lastMs: number;
  private readonly capacity: number;
  /** Milliseconds after which an empty bucket is full again; caps elapsed time so products stay exact. */
  private readonly fillMs: number;

  constructor(
    private readonly ratePerSec: number,
    burst: number,
    nowMs: number,
  ) {
    this.capacity = burst * MILLI;
    this.milliTokens = this.capacity;
    this.lastMs = Math.floor(nowMs);
    this.fillMs = Math.ceil(this.capacity / ratePerSec);
  }

  /** True when at least one whole token is available at `nowMs` (refills first, takes nothing). */
  available(nowMs: number): boolean {
    this.refill(nowMs);
    return this.milliTokens >= MILLI;
  }

  /** Takes one token; callers check {@link available} first. */
  take(): void {
    this.milliTokens -= MILLI;
  }

  /** True when the bucket is as full as a fresh one, i.e. forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.milliTokens >= this.capacity;
  }

  private refill(nowMs: number): void {
    const now = Math.floor(nowMs);
    const elapsed = now - this.lastMs;
    if (!(elapsed > 0)) return;
    this.lastMs = now;
    const added = Math.min(elapsed, this.fillMs) * this.ratePerSec;
    this.milliTokens = Math.min(this.capacity, this.milliTokens + added);
  }
}
