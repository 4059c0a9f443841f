import type { Clock } from '../clock.js';

/**
 * Fixed-window limiter for log records: at most `maxPerInterval` pass per window; the rest are counted so
 * the caller can write one summary when the window rolls over. A reject storm then costs a counter
 * increment per quote, not a log line.
 */
export class LogRateLimiter {
  private windowStart: number;
  private passed = 0;
  private suppressed = 0;

  constructor(
    private readonly maxPerInterval: number,
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {
    this.windowStart = clock.monoMs();
  }

  /** True when this record may be logged. `onRollover` gets the previous window's suppressed count. */
  allow(onRollover: (suppressed: number) => void): boolean {
    this.roll(onRollover);
    if (this.passed < this.maxPerInterval) {
      this.passed++;
      return true;
    }
    this.suppressed++;
    return false;
  }

  /** Closes the window if it has elapsed, reporting what it suppressed. */
  roll(onRollover: (suppressed: number) => void): void {
    const now = this.clock.monoMs();
    if (now - this.windowStart < this.intervalMs) return;
    this.windowStart = now;
    this.passed = 0;
    if (this.suppressed > 0) {
      const n = this.suppressed;
      this.suppressed = 0;
      onRollover(n);
    }
  }
}
