import { PRICE_SCALE } from '../contracts/scaled.js';
import type { RejectReason } from '../errors.js';
import type { QuoteTopic } from './config.js';
import { parseScaledDecimal } from './fast-decimal.js';
import {
  BUILD_FIELDS,
  FieldFailure,
  type FieldValue,
  LAYOUTS,
  MAX_FIELDS,
  type NormalizedFields,
} from './quote-fields.js';
import { QuoteScanner } from './quote-scanner.js';
import {
  BOOK_LEVELS,
  ENVELOPE_FIELDS,
  type FieldType,
  KIND_SPECS,
  KIND_TOPIC,
  type KindSpec,
  type NormalizedQuote,
  QUOTE_VERSION_V1,
  type QuoteKind,
} from './quote-schema-v1.js';

export type QuoteRejectReason = Extract<RejectReason, `QUOTE_${string}`>;

/** Why an accepted quote needed the emergency override (null: plain v1). */
export type OverrideUse = 'unknown_field' | 'alt_version' | null;

export type QuoteVerdict =
  | { readonly ok: true; readonly quote: NormalizedQuote; readonly override: OverrideUse }
  | {
      readonly ok: false;
      readonly reason: QuoteRejectReason;
      readonly field: string;
      readonly detail: string;
      readonly kind: string | undefined;
    };

export interface ValidatorOptions {
  readonly maxPayloadBytes: number;
  /** Versions accepted besides v1 (emergency override). */
  readonly acceptVersions: readonly string[];
  /** Accept and drop fields v1 does not define (emergency override). */
  readonly acceptUnknownFields: boolean;
}

const PRICE_PLACES = Math.round(Math.log10(PRICE_SCALE));
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;
const CODE = /^[A-Za-z0-9_.-]{1,32}$/;
const ENVELOPE = new Set<string>(ENVELOPE_FIELDS);

const badType = (detail: string) => new FieldFailure('QUOTE_BAD_TYPE', detail);
const badNumber = (detail: string) => new FieldFailure('QUOTE_BAD_NUMBER', detail);

function decimal(raw: unknown, signed: boolean): number | FieldFailure {
  if (typeof raw !== 'string') return badType('expected a decimal string');
  const scaled = parseScaledDecimal(raw, PRICE_PLACES);
  if (scaled === null) return badNumber(`not a decimal with at most ${PRICE_PLACES} places`);
  if (!signed && (scaled < 0 || Object.is(scaled, -0))) return badNumber('negative');
  return scaled;
}

function integer(
  raw: unknown,
  signed: boolean,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | FieldFailure {
  if (typeof raw !== 'number') return badType('expected an integer');
  if (!Number.isSafeInteger(raw)) return badNumber('not a safe integer');
  if (!signed && (raw < min || raw > max)) return badNumber(`outside ${min}..${max}`);
  return raw;
}

function levels(raw: unknown, each: (v: unknown) => number | FieldFailure): number[] | FieldFailure {
  if (!Array.isArray(raw) || raw.length !== BOOK_LEVELS) return badType(`expected ${BOOK_LEVELS} levels`);
  const out: number[] = [];
  for (let i = 0; i < BOOK_LEVELS; i++) {
    const v = each(raw[i]);
    if (v instanceof FieldFailure) return new FieldFailure(v.reason, `level ${i}: ${v.detail}`);
    out.push(v);
  }
  return out;
}

const price = (v: unknown) => decimal(v, false);
const volume = (v: unknown) => integer(v, false);
const signedVolume = (v: unknown) => integer(v, true);

type Converter = (raw: unknown) => FieldValue | FieldFailure;

/** One converter per v1 field type (see quote-schema-v1.ts). */
const CONVERTERS: Readonly<Record<FieldType, Converter>> = Object.freeze({
  price,
  signed_price: (v: unknown) => decimal(v, true),
  volume,
  signed_volume: signedVolume,
  enum0_2: (v: unknown) => integer(v, false, 0, 2),
  enum1_5: (v: unknown) => integer(v, false, 1, 5),
  bool: (v: unknown) => (typeof v === 'boolean' ? v : badType('expected a boolean')),
  code: (v: unknown) => (typeof v === 'string' && CODE.test(v) ? v : badType('expected a symbol code')),
  datetime: (v: unknown) =>
    typeof v === 'string' && DATETIME.test(v) ? v : badType('expected YYYY-MM-DDTHH:MM:SS[.ffffff]'),
  price5: (v: unknown) => levels(v, price),
  volume5: (v: unknown) => levels(v, volume),
  signed_volume5: (v: unknown) => levels(v, signedVolume),
});

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Quote schema v1 validation and normalization, run by the quote workers (never on the callback).
 *
 * Two paths, one answer. The scanner (quote-scanner.ts) reads plainly valid strict-v1 quotes in one pass
 * over the text; it never rejects. Everything it does not accept goes through the reference path below:
 * JSON.parse, then the schema table field by field, which names the first offending field with a stable
 * reason code. The reference defines the result for every input; the scanner is property-tested to
 * agree with it. Reference checks, in order: size (before parsing anything), JSON object, version, kind
 * (and that it matches the callback it came on), envelope fields, unknown payload fields, then each v1
 * field in schema order (missing, type, number).
 *
 * No code is generated at run time (an earlier version compiled the field tables with `new Function`):
 * the scanner made the generic table walk's cost irrelevant on the hot path, and plain code is easier to
 * review and runs where code generation from strings is disabled.
 */
export class QuoteValidator {
  private readonly acceptVersions: ReadonlySet<string>;
  private readonly scanner: QuoteScanner;
  private readonly values: FieldValue[] = new Array<FieldValue>(MAX_FIELDS).fill(0);
  /** Quotes the scanner handed to the reference path (a feed writing outside the canonical form shows here). */
  slowPath = 0;

  constructor(private readonly options: ValidatorOptions) {
    this.acceptVersions = new Set(options.acceptVersions);
    this.scanner = new QuoteScanner(options.maxPayloadBytes);
  }

  validate(raw: string | Buffer, topic: QuoteTopic, recvTsNs: string, ingressSeq: number): QuoteVerdict {
    const max = this.options.maxPayloadBytes;
    // A UTF-16 code unit takes 1–3 UTF-8 bytes (a surrogate pair 4 for 2), so for a string `length` is a
    // lower bound and `3 × length` an upper one: count bytes only when the bounds straddle the limit.
    const bytes =
      typeof raw !== 'string'
        ? raw.length
        : raw.length > max || raw.length * 3 <= max
          ? raw.length
          : Buffer.byteLength(raw);
    if (bytes > max) return reject('QUOTE_OVERSIZE', '', `${bytes} bytes above ${max}`);
    const scanned = this.scanner.scan(raw, topic);
    if (scanned !== null) {
      return {
        ok: true,
        override: null,
        quote: {
          quote_version: QUOTE_VERSION_V1,
          kind: this.scanner.kind,
          code: scanned.code as string,
          datetime: scanned.datetime as string,
          recv_ts_ns: recvTsNs,
          ingress_seq: ingressSeq,
          fields: scanned,
        },
      };
    }
    this.slowPath++;
    return this.reference(typeof raw === 'string' ? raw : raw.toString('utf8'), topic, recvTsNs, ingressSeq);
  }

  /** The reference path: JSON.parse, then the schema table. Decides every quote the scanner does not accept. */
  reference(text: string, topic: QuoteTopic, recvTsNs: string, ingressSeq: number): QuoteVerdict {
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      return reject('QUOTE_NOT_JSON', '', 'unparsable JSON');
    }
    if (!isPlainObject(envelope)) return reject('QUOTE_NOT_JSON', '', 'not a JSON object');

    const version = envelope.quote_version;
    let override: OverrideUse = null;
    if (version !== QUOTE_VERSION_V1) {
      if (typeof version !== 'string' || !this.acceptVersions.has(version)) {
        return reject('QUOTE_VERSION', 'quote_version', `got ${describe(version)}`);
      }
      override = 'alt_version';
    }
    const kind = envelope.kind;
    if (typeof kind !== 'string' || !Object.hasOwn(KIND_SPECS, kind)) {
      return reject('QUOTE_BAD_TYPE', 'kind', `unknown kind ${describe(kind)}`);
    }
    const quoteKind = kind as QuoteKind;
    if (KIND_TOPIC[quoteKind] !== topic) {
      return reject('QUOTE_BAD_TYPE', 'kind', `${kind} arrived on the ${topic} callback`, kind);
    }
    for (const key in envelope) {
      if (ENVELOPE.has(key)) continue;
      if (!this.options.acceptUnknownFields)
        return reject('QUOTE_UNKNOWN_FIELD', key, 'not a v1 envelope field', kind);
      override ??= 'unknown_field';
    }
    const payload = envelope.payload;
    if (payload === undefined) return reject('QUOTE_MISSING_FIELD', 'payload', 'missing', kind);
    if (!isPlainObject(payload)) return reject('QUOTE_BAD_TYPE', 'payload', 'not an object', kind);

    const spec: KindSpec = KIND_SPECS[quoteKind];
    for (const key in payload) {
      if (Object.hasOwn(spec, key)) continue;
      if (!this.options.acceptUnknownFields)
        return reject('QUOTE_UNKNOWN_FIELD', key, 'not a v1 field', kind);
      override ??= 'unknown_field';
    }
    const layout = LAYOUTS[quoteKind];
    const values = this.values;
    for (let i = 0; i < layout.names.length; i++) {
      const name = layout.names[i] as string;
      const rawValue = payload[name];
      if (rawValue === undefined) return reject('QUOTE_MISSING_FIELD', name, 'missing', kind);
      const v = CONVERTERS[layout.types[i] as FieldType](rawValue);
      if (v instanceof FieldFailure) return reject(v.reason, name, v.detail, kind);
      values[i] = v;
    }
    const fields: NormalizedFields = BUILD_FIELDS[quoteKind](values);
    return {
      ok: true,
      override,
      quote: {
        quote_version: version as string,
        kind: quoteKind,
        code: fields.code as string,
        datetime: fields.datetime as string,
        recv_ts_ns: recvTsNs,
        ingress_seq: ingressSeq,
        fields,
      },
    };
  }
}

function reject(reason: QuoteRejectReason, field: string, detail: string, kind?: string): QuoteVerdict {
  return { ok: false, reason, field, detail, kind };
}

/** A short, bounded description of an offending value for the reject log (never the whole payload). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 32));
  if (value === undefined) return 'nothing';
  return typeof value;
}
