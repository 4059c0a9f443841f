import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/contracts/scaled.js';
import { CODES } from '../../src/errors.js';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import { STOCK_BIDASK_PAYLOAD, STOCK_TICK_PAYLOAD, envelope } from './quote-fixtures.js';

const strict = new QuoteValidator({ maxPayloadBytes: 4_096, acceptVersions: [], acceptUnknownFields: false });
const QUOTE_REASONS = Object.keys(CODES).filter((c) => c.startsWith('QUOTE_'));

const anyValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 6 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 }),
);

describe('quote validator properties', () => {
  it('never throws on arbitrary input and always answers ok or a QUOTE_* reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.json(), fc.string({ maxLength: 200 })),
        fc.constantFrom('tick', 'bidask'),
        (raw, topic) => {
          const v = strict.validate(raw, topic, '0', 0);
          return v.ok || QUOTE_REASONS.includes(v.reason);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('a valid quote with one field replaced by an arbitrary value is either still valid or rejected naming that field', () => {
    const tickKeys = Object.keys(STOCK_TICK_PAYLOAD);
    fc.assert(
      fc.property(fc.constantFrom(...tickKeys), anyValue, (key, value) => {
        const v = strict.validate(
          envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, [key]: value }),
          'tick',
          '0',
          0,
        );
        if (v.ok) return true;
        return v.field === key && QUOTE_REASONS.includes(v.reason);
      }),
      { numRuns: 5_000 },
    );
  });

  it('bid/ask prices of any valid decimal text normalize exactly as parseDecimal does', () => {
    const price = fc
      .tuple(
        fc.integer({ min: 0, max: 99_999_999 }),
        fc.integer({ min: 0, max: 9_999 }),
        fc.integer({ min: 0, max: 4 }),
      )
      .map(([whole, frac, pad]) =>
        frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(4, '0')}${'0'.repeat(pad)}`,
      );
    fc.assert(
      fc.property(fc.array(price, { minLength: 5, maxLength: 5 }), (bids) => {
        const v = strict.validate(
          envelope('stock_bidask', { ...STOCK_BIDASK_PAYLOAD, bid_price: bids }),
          'bidask',
          '0',
          0,
        );
        expect(v.ok && v.quote.fields.bid_price).toEqual(bids.map((b) => parseDecimal(b, 4)));
      }),
      { numRuns: 2_000 },
    );
  });
});
