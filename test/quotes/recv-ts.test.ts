import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { type ProcessorParts, QuoteProcessor } from '../../src/quotes/quote-processor.js';

/** A clock frozen at one wall/mono pair, which is all the anchor is taken from. */
function processorAt(wallNs: bigint, monoMs: number): QuoteProcessor {
  const clock: Clock = { wallNs: () => wallNs, monoMs: () => monoMs };
  return new QuoteProcessor({
    clock,
    recorder: { record: () => 0 },
    rejectLog: { maxPerInterval: 1, intervalMs: 1_000 },
  } as unknown as ProcessorParts);
}

describe('receive timestamps', () => {
  it('are the exact digits of anchor + mono in BigInt arithmetic, without BigInt per quote', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1_500_000_000_000_000_000n, max: 4_000_000_000_000_000_000n }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        (wallNs, anchorMono, recvMono) => {
          const p = processorAt(wallNs, anchorMono);
          const anchor = wallNs - BigInt(Math.round(anchorMono * 1e6));
          const expected = (anchor + BigInt(Math.round(recvMono * 1e6))).toString();
          return p.recvTsNs(recvMono) === expected;
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('carries across the millisecond boundary', () => {
    const p = processorAt(1_764_000_000_000_999_999n, 0);
    expect(p.recvTsNs(0)).toBe('1764000000000999999');
    expect(p.recvTsNs(0.000001)).toBe('1764000000001000000');
    expect(p.recvTsNs(1.000002)).toBe('1764000000002000001');
  });
});
