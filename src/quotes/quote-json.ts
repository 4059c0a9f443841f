import { JsonPayload, type PayloadKey } from '../wal/json-payload.js';
import { LAYOUTS } from './quote-fields.js';
import type { FieldType, NormalizedQuote, QuoteKind } from './quote-schema-v1.js';

const VERSION = JsonPayload.prepareKey('quote_version');
const KIND = JsonPayload.prepareKey('kind');
const CODE = JsonPayload.prepareKey('code');
const DATETIME = JsonPayload.prepareKey('datetime');
const RECV_TS = JsonPayload.prepareKey('recv_ts_ns');
const INGRESS_SEQ = JsonPayload.prepareKey('ingress_seq');
const FIELDS = JsonPayload.prepareKey('fields');

/** How a field is written: small integers, so the per-field dispatch is a jump, not string compares. */
const INT = 0;
const TEXT = 1;
const BOOL = 2;
const LEVELS = 3;

function writeAs(type: FieldType): number {
  switch (type) {
    case 'code':
    case 'datetime':
      return TEXT;
    case 'bool':
      return BOOL;
    case 'price5':
    case 'volume5':
    case 'signed_volume5':
      return LEVELS;
    default:
      return INT;
  }
}

interface KindKeys {
  readonly keys: readonly PayloadKey[];
  readonly names: readonly string[];
  readonly as: Uint8Array;
}

function kindKeys(kind: QuoteKind): KindKeys {
  const { names, types } = LAYOUTS[kind];
  return { keys: names.map((n) => JsonPayload.prepareKey(n)), names, as: Uint8Array.from(types, writeAs) };
}

const KEYS: Readonly<Record<QuoteKind, KindKeys>> = Object.freeze({
  stock_tick: kindKeys('stock_tick'),
  stock_bidask: kindKeys('stock_bidask'),
  fop_tick: kindKeys('fop_tick'),
});

/**
 * Builds a normalized quote as a WAL {@link JsonPayload}: the value `JSON.stringify(quote)` describes, in
 * the same key order (the builders in quote-fields.ts write the fields in schema order, and so does this),
 * so the recorded line is byte for byte the one `record(topic, quote)` writes, without serializing the
 * ~560-byte object and escaping it inside the WAL. The payload fails (size -1) for anything it cannot
 * write as-is: text JSON would escape or that is not ASCII (possible only in an override-accepted version
 * string), a number that is not a safe integer; the caller then records the object.
 * test/quotes/quote-json.test.ts proves the equality on simulator streams and arbitrary quotes.
 */
export function buildQuoteJson(json: JsonPayload, quote: NormalizedQuote): JsonPayload {
  json
    .reset()
    .beginObject()
    .key(VERSION)
    .text(quote.quote_version)
    .key(KIND)
    .text(quote.kind)
    .key(CODE)
    .text(quote.code)
    .key(DATETIME)
    .text(quote.datetime)
    .key(RECV_TS)
    .text(quote.recv_ts_ns)
    .key(INGRESS_SEQ)
    .int(quote.ingress_seq)
    .key(FIELDS)
    .beginObject();
  const { keys, names, as } = KEYS[quote.kind];
  const fields = quote.fields;
  for (let i = 0; i < names.length; i++) {
    json.key(keys[i] as PayloadKey);
    const v = fields[names[i] as string];
    const how = as[i];
    if (how === INT) json.int(v as number);
    else if (how === TEXT) json.text(v as string);
    else if (how === BOOL) json.bool(v as boolean);
    else {
      const levels = v as readonly number[];
      json.beginArray();
      for (let j = 0; j < levels.length; j++) json.int(levels[j] as number);
      json.endArray();
    }
  }
  return json.endObject().endObject();
}
