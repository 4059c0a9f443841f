import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SCALED, formatScaled, notional, parseDecimal } from '../../src/contracts/scaled.js';

describe('scaled integers', () => {
  it('parses decimal strings exactly, with no float rounding', () => {
    expect(parseDecimal('580.5', 4)).toBe(5_805_000);
    expect(parseDecimal('0.1', 4)).toBe(1_000);
    expect(parseDecimal('-12.3400', 2)).toBe(-1_234);
    expect(parseDecimal('7', 0)).toBe(7);
  });

  it('refuses more fractional digits than the scale, malformed text and overflow', () => {
    expect(parseDecimal('1.23456', 4)).toBeNull();
    expect(parseDecimal('1e3', 4)).toBeNull();
    expect(parseDecimal(' 1', 4)).toBeNull();
    expect(parseDecimal('NaN', 4)).toBeNull();
    expect(parseDecimal('9999999999999999', 4)).toBeNull();
  });

  it('computes notionals in BigInt and refuses products above 2^53 - 1', () => {
    expect(notional(5_805_000, 1_000)).toBe(5_805_000_000);
    expect(notional(MAX_SCALED, 2)).toBeNull();
  });

  it('formats back to the same decimal it parsed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(10 ** 15), max: 10 ** 15 }),
        fc.integer({ min: 0, max: 6 }),
        (value, places) => {
          expect(parseDecimal(formatScaled(value, places), places)).toBe(value);
        },
      ),
    );
  });
});
