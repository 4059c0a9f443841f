import type { Clock } from '../src/clock.js';

/** The moments of one segment load, in order (docs/loader-bench.md, "Where a segment's wall time goes"). */
export type LoadMark =
  | 'enqueued'
  | 'start'
  | 'claimed'
  | 'pass1'
  | 'loading'
  | 'inserted'
  | 'verified'
  | 'loaded'
  | 'archived';

/**
 * Wall-clock marks of one segment load (ms since the epoch, µs resolution, from the clock's wall time so
 * a bench can line them up with other processes). Logged with the segment's final line; costs a few
 * BigInt operations per segment.
 */
export class LoadTimeline {
  private readonly marks: Partial<Record<LoadMark, number>> = {};

  constructor(private readonly clock: Clock) {}

  mark(name: LoadMark, atMs?: number): void {
    this.marks[name] = atMs ?? Number(this.clock.wallNs() / 1_000n) / 1_000;
  }

  toJSON(): Partial<Record<LoadMark, number>> {
    return this.marks;
  }
}
