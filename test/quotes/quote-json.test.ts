import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FeedSimulator } from '../../src/quotes/feed-sim.js';
import { BUILD_FIELDS, type FieldValue, LAYOUTS } from '../../src/quotes/quote-fields.js';
import { buildQuoteJson } from '../../src/quotes/quote-json.js';
import { type FieldType, type NormalizedQuote, QUOTE_KINDS } from '../../src/quotes/quote-schema-v1.js';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import { JsonPayload } from '../../src/wal/json-payload.js';

/*
 * The quote workers hand the WAL a JsonPayload built from the normalized quote instead of the object; the
 * record must hold exactly what `record(topic, quote)` would: JSON.stringify(quote), escaped as the
 * payload string. Equality on everything the builder accepts, and a failed payload (the object path)
 * for anything it cannot reproduce.
 */
function written(json: JsonPayload, quote: NormalizedQuote): string | null {
  buildQuoteJson(json, quote);
  return json.size < 0 ? null : json.buf.toString('latin1', 0, json.size);
}

const recorded = (quote: NormalizedQuote) => JSON.stringify(JSON.stringify(quote)).slice(1, -1);

const safeInt = fc.oneof(
  fc.integer({ min: -2_000, max: 2_000 }),
  fc.maxSafeInteger(),
  fc.maxSafeNat(),
  fc.constantFrom(-0, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e8, 1e8 - 1, 99_999_999_999, Number.MAX_SAFE_INTEGER),
);

function arbitraryValue(type: FieldType): fc.Arbitrary<FieldValue> {
  switch (type) {
    case 'code':
      return fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/);
    case 'datetime':
      return fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/);
    case 'bool':
      return fc.boolean();
    case 'price5':
    case 'volume5':
    case 'signed_volume5':
      return fc.array(safeInt, { minLength: 5, maxLength: 5 });
    default:
      return safeInt;
  }
}

const arbitraryQuote: fc.Arbitrary<NormalizedQuote> = fc.constantFrom(...QUOTE_KINDS).chain((kind) =>
  fc
    .tuple(
      fc.tuple(...LAYOUTS[kind].types.map(arbitraryValue)),
      fc.oneof(fc.constant('v1'), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 })),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.maxSafeNat(),
    )
    .map(([values, version, recv, seq]) => {
      const fields = BUILD_FIELDS[kind](values);
      return {
        quote_version: version,
        kind,
        code: fields.code as string,
        datetime: fields.datetime as string,
        recv_ts_ns: recv.toString(),
        ingress_seq: seq,
        fields,
      };
    }),
);

describe('buildQuoteJson', () => {
  it('builds what record(topic, quote) records, byte for byte, for every simulator quote', async () => {
    const validator = new QuoteValidator({
      maxPayloadBytes: 8_192,
      acceptVersions: [],
      acceptUnknownFields: false,
    });
    const writer = new JsonPayload();
    const sim = new FeedSimulator({ seed: 11, simtradePerMille: 100 });
    await sim.subscribe(['2330', '0050', 'TXFL6', 'MXFL6', '2317'], ['tick', 'bidask']);
    let kinds = new Set<string>();
    for (const [i, q] of sim.generate(5_000).entries()) {
      const verdict = validator.validate(q.payload, q.topic, '1764000000123456789', i + 1);
      if (!verdict.ok) throw new Error(`simulator quote rejected: ${verdict.reason}`);
      expect(written(writer, verdict.quote)).toBe(recorded(verdict.quote));
      kinds = kinds.add(verdict.quote.kind);
    }
    expect([...kinds].sort()).toEqual([...QUOTE_KINDS].sort());
  });

  it('builds the same for arbitrary quotes of every kind, or fails when it cannot', () => {
    const writer = new JsonPayload();
    fc.assert(
      fc.property(arbitraryQuote, (quote) => {
        const out = written(writer, quote);
        const plain = /^[\x20-\x7f]*$/.test(quote.quote_version) && !/["\\]/.test(quote.quote_version);
        if (plain) expect(out).toBe(recorded(quote));
        else expect(out).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('fails on a number that is not a safe integer, or a quote past its capacity', () => {
    const writer = new JsonPayload();
    const values: FieldValue[] = LAYOUTS.stock_tick.types.map((t) =>
      t === 'bool' ? false : t === 'code' ? '2330' : 0,
    );
    values[1] = '2026-11-24T09:00:00';
    const quote = (fields: FieldValue[]): NormalizedQuote => ({
      quote_version: 'v1',
      kind: 'stock_tick',
      code: '2330',
      datetime: '2026-11-24T09:00:00',
      recv_ts_ns: '1',
      ingress_seq: 1,
      fields: BUILD_FIELDS.stock_tick(fields),
    });
    expect(written(writer, quote(values))).toBe(recorded(quote(values)));
    // Beyond the capacity it was made with (only an override-listed version string is unbounded).
    expect(written(new JsonPayload(400), { ...quote(values), quote_version: 'v'.repeat(100) })).toBeNull();
    for (const bad of [0.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const copy = [...values];
      copy[3] = bad;
      expect(written(writer, quote(copy))).toBeNull();
    }
  });
});
