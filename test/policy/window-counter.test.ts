import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowCounter } from '../../src/policy/window-counter.js';

describe('WindowCounter', () => {
  it('counts exactly the observations whose bucket lies within the window (against a naive model)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 5_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 2_000 }), flagged: fc.boolean() }), {
          maxLength: 200,
        }),
        (windowMs, buckets, steps) => {
          const counter = new WindowCounter(windowMs, buckets);
          const bucketMs = Math.max(1, Math.floor(windowMs / buckets));
          const seen: { bucket: number; flagged: boolean }[] = [];
          let now = 0;
          for (const step of steps) {
            now += step.gap;
            counter.add(step.flagged, now);
            seen.push({ bucket: Math.floor(now / bucketMs), flagged: step.flagged });
            const current = Math.floor(now / bucketMs);
            const live = seen.filter((s) => current - s.bucket < buckets);
            expect(counter.read(now)).toEqual({
              total: live.length,
              flagged: live.filter((s) => s.flagged).length,
            });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('compares rates in integers: exactly at the per-mille threshold trips, one below does not', () => {
    const counter = new WindowCounter(1_000, 10);
    for (let i = 0; i < 1_000; i++) counter.add(i < 200, 5);
    expect(counter.exceeds(5, 1_000, 200)).toBe(true);
    expect(counter.exceeds(5, 1_000, 201)).toBe(false);
    expect(counter.exceeds(5, 1_001, 1)).toBe(false);
  });
});
