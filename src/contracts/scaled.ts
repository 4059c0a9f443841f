/**
 * Scaled-integer money and quantities. The order path never uses floating point: prices are integers in
 * units of 1/PRICE_SCALE of the currency, quantities are integer lots, notionals are computed in BigInt.
 *
 * Every scaled value on the wire is a JSON integer within Number.MAX_SAFE_INTEGER (2^53 - 1). That bound
 * keeps the value exact in JavaScript numbers and in Redis Lua (whose numbers are doubles), so a check in a
 * Lua script compares exactly what the TypeScript side validated.
 */
export const PRICE_SCALE = 10_000;
export const MAX_SCALED = Number.MAX_SAFE_INTEGER;

/** price × qty, exact. Returns null when the product exceeds the safe-integer bound. */
export function notional(price: number, qty: number): number | null {
  const product = BigInt(price) * BigInt(qty);
  return product > BigInt(MAX_SCALED) ? null : Number(product);
}

/**
 * Parses a decimal string ("123.45", "-0.5", "7") into an integer scaled by 10^places, exactly.
 * Returns null for anything malformed or with more fractional digits than `places` allows.
 */
export function parseDecimal(text: string, places: number): number | null {
  const match = /^(-?)(\d{1,16})(?:\.(\d{1,18}))?$/.exec(text);
  if (!match) return null;
  const [, sign, whole, frac = ''] = match;
  const significant = frac.replace(/0+$/, '');
  if (significant.length > places) return null;
  const scaled =
    BigInt(whole as string) * 10n ** BigInt(places) + BigInt(significant.padEnd(places, '0') || '0');
  if (scaled > BigInt(MAX_SCALED)) return null;
  const value = Number(scaled);
  return sign === '-' ? -value : value;
}

/** Formats a scaled integer back to its decimal text (for logs and operator output only). */
export function formatScaled(value: number, places: number): string {
  const negative = value < 0;
  const digits = Math.abs(value)
    .toString()
    .padStart(places + 1, '0');
  const text = places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`;
  return negative ? `-${text}` : text;
}
