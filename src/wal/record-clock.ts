import type { Clock } from '../clock.js';

const NS_PER_S = 1e9;

/**
 * Per-record wall-clock timestamps without BigInt. `clock.wallNs()` costs a BigInt add and a BigInt
 * `toString()` per call, more than the CRC of a short record; this reads `clock.monoMs()` (a double) and
 * adds it to a wall-clock anchor taken once, keeping the result as whole seconds plus nanoseconds so both
 * stay exact integers. Monotonic like the clock it reads; within a microsecond of `clock.wallNs()` for
 * the system clock (both advance with the same monotonic source). Exact to the nanosecond for the first
 * 104 days after the anchor (2^53 ns), to a few ns after that.
 */
export class RecordClock {
  /** The last sample: whole seconds and nanoseconds within the second. */
  sec = 0;
  nsec = 0;
  private readonly anchorSec: number;
  private readonly anchorNsec: number;
  private readonly anchorMs: number;

  constructor(private readonly clock: Clock) {
    // Pair one wall reading with one monotonic reading; a preemption between them would offset every
    // timestamp, so take the pair whose bracketing monotonic reads are closest.
    let best = { wall: 0n, ms: 0, width: Number.POSITIVE_INFINITY };
    for (let i = 0; i < 5 && best.width > 0.05; i++) {
      const before = clock.monoMs();
      const wall = clock.wallNs();
      const after = clock.monoMs();
      if (after - before < best.width) best = { wall, ms: (before + after) / 2, width: after - before };
    }
    this.anchorMs = best.ms;
    this.anchorSec = Number(best.wall / 1_000_000_000n);
    this.anchorNsec = Number(best.wall % 1_000_000_000n);
    this.sample();
  }

  /** Reads the clock into `sec`/`nsec` (fields, so the hot path allocates nothing). */
  sample(): void {
    const total = this.anchorNsec + Math.round((this.clock.monoMs() - this.anchorMs) * 1e6);
    const whole = Math.floor(total / NS_PER_S);
    this.sec = this.anchorSec + whole;
    this.nsec = total - whole * NS_PER_S;
  }

  /** The decimal form of a timestamp, as records and manifests carry it. */
  static format(sec: number, nsec: number): string {
    return sec === 0 ? String(nsec) : `${sec}${String(nsec).padStart(9, '0')}`;
  }
}
