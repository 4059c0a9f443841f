import { MAX_SCALED } from '../contracts/scaled.js';

const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;
const POW10 = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/**
 * The quote workers' decimal → scaled integer conversion: the same grammar and the same answers as
 * `parseDecimal` (src/contracts/scaled.ts), checked equal by a fast-check property in
 * test/quotes/fast-decimal.test.ts, but without the regex and the BigInt arithmetic. A stock tick carries
 * nine decimals and a bid/ask ten, and `parseDecimal` costs about half a microsecond each; at 300k
 * quotes/s that alone would exceed a core.
 *
 * Exactness without floats' rounding: every intermediate (whole part, whole × 10^places, the sum) is at
 * most the final value, and each is compared with MAX_SCALED (2^53 - 1). While a value is at most
 * MAX_SCALED it is an exact integer; a true value past the bound rounds to at least 2^53, so the
 * comparison still sees it and returns null, as `parseDecimal` does.
 *
 * `places` must be 0–8.
 */
export function parseScaledDecimal(text: string, places: number): number | null {
  const length = text.length;
  let i = 0;
  const negative = length > 0 && text.charCodeAt(0) === MINUS;
  if (negative) i = 1;
  const wholeStart = i;
  let value = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    i++;
  }
  const wholeDigits = i - wholeStart;
  if (wholeDigits < 1 || wholeDigits > 16) return null;
  let fracDigits = 0;
  let significant = 0;
  let fraction = 0;
  if (i < length) {
    if (text.charCodeAt(i) !== DOT) return null;
    i++;
    const fracStart = i;
    while (i < length) {
      const c = text.charCodeAt(i);
      if (c < ZERO || c > NINE) return null;
      i++;
    }
    fracDigits = i - fracStart;
    if (fracDigits < 1 || fracDigits > 18) return null;
    // Trailing zeros carry no value; only the significant prefix must fit in `places`.
    let end = i;
    while (end > fracStart && text.charCodeAt(end - 1) === ZERO) end--;
    significant = end - fracStart;
    if (significant > places) return null;
    for (let j = fracStart; j < end; j++) fraction = fraction * 10 + (text.charCodeAt(j) - ZERO);
  }
  if (value > MAX_SCALED) return null;
  value = value * (POW10[places] as number);
  if (value > MAX_SCALED) return null;
  value += fraction * (POW10[places - significant] as number);
  if (value > MAX_SCALED) return null;
  return negative ? -value : value;
}

/**
 * `parseScaledDecimal` over a byte range (ASCII digits, `-`, `.`), for the quote scanner, which reads
 * the envelope as UTF-8 bytes. The same grammar and answers, checked equal in
 * test/quotes/fast-decimal.test.ts.
 */
export function parseScaledDecimalBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
  places: number,
): number | null {
  let i = start;
  const negative = end > start && bytes[start] === MINUS;
  if (negative) i++;
  const wholeStart = i;
  let value = 0;
  while (i < end) {
    const c = bytes[i] as number;
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    i++;
  }
  const wholeDigits = i - wholeStart;
  if (wholeDigits < 1 || wholeDigits > 16) return null;
  let significant = 0;
  let fraction = 0;
  if (i < end) {
    if (bytes[i] !== DOT) return null;
    i++;
    const fracStart = i;
    while (i < end) {
      const c = bytes[i] as number;
      if (c < ZERO || c > NINE) return null;
      i++;
    }
    const fracDigits = i - fracStart;
    if (fracDigits < 1 || fracDigits > 18) return null;
    let last = i;
    while (last > fracStart && bytes[last - 1] === ZERO) last--;
    significant = last - fracStart;
    if (significant > places) return null;
    for (let j = fracStart; j < last; j++) fraction = fraction * 10 + ((bytes[j] as number) - ZERO);
  }
  if (value > MAX_SCALED) return null;
  value = value * (POW10[places] as number);
  if (value > MAX_SCALED) return null;
  value += fraction * (POW10[places - significant] as number);
  if (value > MAX_SCALED) return null;
  return negative ? -value : value;
}
