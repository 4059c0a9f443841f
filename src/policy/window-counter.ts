/**
 * Sliding-window counter of (observations, flagged observations) in fixed time buckets: O(buckets) memory
 * and evaluation, O(1) per observation, integer counts only. A bucket older than the window is zeroed when
 * its slot is reused, so an idle window decays to empty.
 */
export class WindowCounter {
  private readonly totals: number[];
  private readonly flagged: number[];
  private readonly slotBucket: number[];
  private readonly bucketMs: number;

  constructor(
    windowMs: number,
    private readonly buckets: number,
  ) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / buckets));
    this.totals = new Array<number>(buckets).fill(0);
    this.flagged = new Array<number>(buckets).fill(0);
    this.slotBucket = new Array<number>(buckets).fill(-1);
  }

  add(isFlagged: boolean, nowMs: number): void {
    const bucket = Math.floor(nowMs / this.bucketMs);
    const slot = bucket % this.buckets;
    if (this.slotBucket[slot] !== bucket) {
      this.slotBucket[slot] = bucket;
      this.totals[slot] = 0;
      this.flagged[slot] = 0;
    }
    this.totals[slot] = (this.totals[slot] ?? 0) + 1;
    if (isFlagged) this.flagged[slot] = (this.flagged[slot] ?? 0) + 1;
  }

  /** Observations and flagged observations within the window ending at `nowMs`. */
  read(nowMs: number): { total: number; flagged: number } {
    const current = Math.floor(nowMs / this.bucketMs);
    let total = 0;
    let flagged = 0;
    for (let slot = 0; slot < this.buckets; slot++) {
      const bucket = this.slotBucket[slot] ?? -1;
      if (bucket >= 0 && current - bucket < this.buckets && current >= bucket) {
        total += this.totals[slot] ?? 0;
        flagged += this.flagged[slot] ?? 0;
      }
    }
    return { total, flagged };
  }

  /** True when at least `minSamples` observations exist and flagged/total ≥ perMille/1000 (integers). */
  exceeds(nowMs: number, minSamples: number, perMille: number): boolean {
    const { total, flagged } = this.read(nowMs);
    return total >= minSamples && flagged * 1000 >= perMille * total;
  }
}
