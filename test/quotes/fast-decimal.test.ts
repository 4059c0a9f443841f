import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/contracts/scaled.js';
import { parseScaledDecimal, parseScaledDecimalBytes } from '../../src/quotes/fast-decimal.js';

const same = (text: string, places: number) => {
  const fast = parseScaledDecimal(text, places);
  const reference = parseDecimal(text, places);
  // The byte version reads the text where it sits inside a larger buffer, as the scanner does.
  const bytes = Buffer.from(`"${text}"`, 'utf8');
  const fromBytes = parseScaledDecimalBytes(bytes, 1, bytes.length - 1, places);
  // Object.is: -0 versus 0 must agree too.
  return Object.is(fast, reference) && Object.is(fromBytes, reference);
};

const digits = (min: number, max: number) =>
  fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''));

describe('parseScaledDecimal and parseScaledDecimalBytes agree with parseDecimal', () => {
  it('on well-formed decimals of any length, including past the safe-integer bound', () => {
    const decimalText = fc
      .tuple(fc.boolean(), digits(0, 19), fc.option(digits(0, 20)))
      .map(([neg, whole, frac]) => `${neg ? '-' : ''}${whole}${frac === null ? '' : `.${frac}`}`);
    fc.assert(
      fc.property(decimalText, fc.integer({ min: 0, max: 8 }), (text, places) => same(text, places)),
      { numRuns: 20_000 },
    );
  });

  it('on arbitrary strings over a decimal-ish alphabet', () => {
    const noise = fc.array(fc.constantFrom(...'0123456789.-+e ,x'), { maxLength: 24 }).map((c) => c.join(''));
    fc.assert(fc.property(noise, fc.integer({ min: 0, max: 8 }), same), { numRuns: 20_000 });
  });

  it('at the edges', () => {
    const cases = [
      '0',
      '-0',
      '0.0000',
      '585.5',
      '585.50000000000000',
      '0.00001',
      '900719925474.0991',
      '900719925474.0992',
      '9007199254740991',
      '999999999999.9999',
      '1.',
      '.5',
      '+1',
      '1e3',
      '',
      '-',
      '01.10',
      '12345678901234567',
    ];
    for (const text of cases)
      for (const places of [0, 2, 4, 8]) expect(same(text, places), `${text}@${places}`).toBe(true);
    expect(parseScaledDecimal('586.5', 4)).toBe(5_865_000);
    expect(parseScaledDecimal('-19', 4)).toBe(-190_000);
  });
});
