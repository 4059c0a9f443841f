import { PRICE_SCALE } from '../contracts/scaled.js';
import type { QuoteTopic } from './config.js';
import { parseScaledDecimalBytes } from './fast-decimal.js';
import {
  BUILD_FIELDS,
  type FieldValue,
  type KindLayout,
  LAYOUTS,
  MAX_FIELDS,
  type NormalizedFields,
} from './quote-fields.js';
import { BOOK_LEVELS, type FieldType, KIND_TOPIC, QUOTE_KINDS, type QuoteKind } from './quote-schema-v1.js';

const PRICE_PLACES = Math.round(Math.log10(PRICE_SCALE));
const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const MAX_CODE = 32;
/** Written after the last byte of a string copied into the scratch buffer: matches no token. */
const SENTINEL = 0;

const ascii = (text: string) => Buffer.from(text, 'latin1');
const VERSION_KEY = ascii('"quote_version":');
const KIND_KEY = ascii('"kind":');
const PAYLOAD_KEY = ascii('"payload":');
const V1 = ascii('"v1"');
const TRUE = ascii('true');
const FALSE = ascii('false');
const KIND_LITERALS = QUOTE_KINDS.map((kind) => [ascii(`"${kind}"`), kind] as const);
/** `YYYY-MM-DDTHH:MM:SS`; `d` stands for a digit. */
const DATETIME_SHAPE = ascii('dddd-dd-ddTdd:dd:dd');
const DIGIT_SLOT = 0x64;

/** Not a value: the scanner met something outside what it reads. */
const NO = null;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** `[A-Za-z0-9_.-]`, the v1 symbol alphabet. */
function isCodeChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= ZERO && c <= NINE) ||
    c === 0x5f ||
    c === DOT ||
    c === MINUS
  );
}

/** True when `word` is at `p` of `b`. */
function at(b: Buffer, p: number, word: Uint8Array): boolean {
  for (let j = 0; j < word.length; j++) if (b[p + j] !== word[j]) return false;
  return true;
}

/** Skips JSON whitespace from `p`. */
function ws(b: Buffer, p: number): number {
  let i = p;
  while (isWhitespace(b[i] as number)) i++;
  return i;
}

/** Whitespace, `:`, whitespace from `p`: the position of the value, or -1. */
function colon(b: Buffer, p: number): number {
  const i = ws(b, p);
  return b[i] === COLON ? ws(b, i + 1) : -1;
}

/**
 * The quote workers' fast path: reads a schema v1 envelope straight from its UTF-8 bytes in one pass and
 * builds the normalized fields, without JSON.parse's intermediate object tree (a string per key and per
 * decimal, an array per book side) and without a second walk over it. Bytes rather than the string's
 * char codes: typed-array loads compile to plain loads, `charCodeAt` on a string of unknown
 * representation does not (measured about 2.5× apart on a plain loop). A string payload is copied
 * into a reusable buffer (`Buffer.write`, no allocation); a Buffer payload is read where it is.
 *
 * It never rejects. It accepts exactly the quotes that are plainly valid strict v1 — any key order, any
 * JSON whitespace — and answers null for anything else: a reject, a string with an escape, a number
 * written as `3.0` or `3e0`, a duplicate or unknown key, `payload` before `kind`, another version, an
 * emergency-override case. On null the caller runs the reference validator (JSON.parse, then the
 * schema table), which decides. The reference therefore defines the answer for every input, and the
 * scanner must agree with it on every quote it accepts: test/quotes/quote-scanner.test.ts checks that on
 * simulator streams, on mutated quotes and on arbitrary JSON.
 *
 * Payload keys are matched against the order the previous quote of the same kind used (a feed writes
 * its keys in a fixed order): one byte comparison of `,"close":`, with a map lookup when it misses.
 */
export class QuoteScanner {
  /** The kind of the last quote `scan` accepted. */
  kind: QuoteKind = 'stock_tick';
  /** Where the last value read ended (the readers return the value and leave the position here). */
  private end = 0;
  /** Bytes of the quote being scanned (the scratch buffer holds stale bytes past them). */
  private n = 0;
  private readonly scratch: Buffer;
  private readonly values: FieldValue[] = new Array<FieldValue>(MAX_FIELDS).fill(0);
  /** Per kind: the field position seen at each key position in the previous quote. */
  private readonly order: Record<QuoteKind, Int32Array> = {
    stock_tick: new Int32Array(MAX_FIELDS).fill(-1),
    stock_bidask: new Int32Array(MAX_FIELDS).fill(-1),
    fop_tick: new Int32Array(MAX_FIELDS).fill(-1),
  };

  /** `maxPayloadBytes`: the largest payload that will be scanned (larger ones are rejected before). */
  constructor(maxPayloadBytes: number) {
    this.scratch = Buffer.alloc(maxPayloadBytes + 1);
  }

  /** The normalized fields of a plainly valid v1 quote on `topic` (kind in `this.kind`), else null. */
  scan(raw: string | Buffer, topic: QuoteTopic): NormalizedFields | null {
    let b: Buffer;
    let n: number;
    if (typeof raw === 'string') {
      // 3 bytes per UTF-16 unit at most: past that bound the copy could be cut short.
      if (raw.length * 3 >= this.scratch.length && Buffer.byteLength(raw) >= this.scratch.length) return NO;
      b = this.scratch;
      n = this.scratch.write(raw, 0, 'utf8');
      b[n] = SENTINEL;
    } else {
      b = raw;
      n = raw.length;
    }
    this.n = n;
    let p = ws(b, 0);
    if (b[p] !== OPEN_BRACE) return NO;
    let version = false;
    let kind: QuoteKind | null = null;
    let fields: NormalizedFields | null = null;
    for (;;) {
      p = ws(b, p + 1);
      if (at(b, p, VERSION_KEY)) {
        p = ws(b, p + VERSION_KEY.length);
        if (version || !at(b, p, V1)) return NO;
        p += V1.length;
        version = true;
      } else if (at(b, p, KIND_KEY)) {
        p = ws(b, p + KIND_KEY.length);
        if (kind !== null) return NO;
        kind = this.kindAt(b, p);
        if (kind === null || KIND_TOPIC[kind] !== topic) return NO;
        p = this.end;
      } else if (at(b, p, PAYLOAD_KEY)) {
        p = ws(b, p + PAYLOAD_KEY.length);
        if (kind === null || fields !== null) return NO;
        fields = this.payload(b, p, kind);
        if (fields === null) return NO;
        p = this.end;
      } else {
        // Keys written with whitespace before the colon, unknown keys: the reference decides.
        return NO;
      }
      p = ws(b, p);
      const c = b[p];
      if (c === COMMA) continue;
      if (c !== CLOSE_BRACE) return NO;
      break;
    }
    if (ws(b, p + 1) !== n || !version || kind === null || fields === null) return NO;
    this.kind = kind;
    return fields;
  }

  private payload(b: Buffer, from: number, kind: QuoteKind): NormalizedFields | null {
    const layout: KindLayout = LAYOUTS[kind];
    const order = this.order[kind];
    const values = this.values;
    if (b[from] !== OPEN_BRACE) return NO;
    let p = from + 1;
    let seen = 0;
    for (let k = 0; k < MAX_FIELDS; k++) {
      // `p` is just past the `{` (k = 0) or at the `,` before this key. Fast path: the key the previous
      // quote of this kind had here, with its separator, is exactly the next bytes.
      let f = order[k] as number;
      const expected = f < 0 ? null : ((k === 0 ? layout.firstKeys : layout.nextKeys)[f] as Uint8Array);
      if (expected !== null && at(b, p, expected)) {
        p = ws(b, p + expected.length);
      } else {
        if (k > 0) p++;
        p = ws(b, p);
        if (b[p] !== QUOTE) return NO;
        let close = p + 1;
        while (close < this.n && b[close] !== QUOTE) close++;
        if (close >= this.n) return NO;
        // An escaped key never equals a v1 name as written: unknown, and the reference decides.
        f = layout.index.get(b.toString('latin1', p + 1, close)) ?? -1;
        if (f < 0) return NO;
        order[k] = f;
        p = colon(b, close + 1);
        if (p < 0) return NO;
      }
      const bit = 1 << f;
      if ((seen & bit) !== 0) return NO;
      seen |= bit;
      const value = this.value(b, p, layout.types[f] as FieldType);
      if (value === null) return NO;
      values[f] = value;
      p = ws(b, this.end);
      const c = b[p];
      if (c === COMMA) continue;
      if (c !== CLOSE_BRACE || seen !== layout.allMask) return NO;
      this.end = p + 1;
      return BUILD_FIELDS[kind](values);
    }
    return NO;
  }

  private value(b: Buffer, p: number, type: FieldType): FieldValue | null {
    switch (type) {
      case 'price':
        return this.decimal(b, p, false);
      case 'signed_price':
        return this.decimal(b, p, true);
      case 'volume':
        return this.integer(b, p, 0, Number.MAX_SAFE_INTEGER);
      case 'signed_volume':
        return this.integer(b, p, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      case 'enum0_2':
        return this.integer(b, p, 0, 2);
      case 'enum1_5':
        return this.integer(b, p, 1, 5);
      case 'bool':
        if (at(b, p, TRUE)) {
          this.end = p + TRUE.length;
          return true;
        }
        if (at(b, p, FALSE)) {
          this.end = p + FALSE.length;
          return false;
        }
        return NO;
      case 'code':
        return this.code(b, p);
      case 'datetime':
        return this.datetime(b, p);
      case 'price5':
        return this.levels(b, p, 0);
      case 'volume5':
        return this.levels(b, p, 1);
      case 'signed_volume5':
        return this.levels(b, p, 2);
    }
  }

  /** Five levels; `each`: 0 price, 1 volume, 2 signed volume. */
  private levels(b: Buffer, from: number, each: number): number[] | null {
    if (b[from] !== OPEN_BRACKET) return NO;
    const out: number[] = [0, 0, 0, 0, 0];
    let p = from;
    for (let i = 0; i < BOOK_LEVELS; i++) {
      p = ws(b, p + 1);
      const v =
        each === 0
          ? this.decimal(b, p, false)
          : this.integer(b, p, each === 1 ? 0 : -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
      if (v === null) return NO;
      out[i] = v;
      p = ws(b, this.end);
      if (b[p] !== (i < BOOK_LEVELS - 1 ? COMMA : CLOSE_BRACKET)) return NO;
    }
    this.end = p + 1;
    return out;
  }

  /** A decimal string of at most PRICE_PLACES significant places; `signed` allows a minus. */
  private decimal(b: Buffer, p: number, signed: boolean): number | null {
    if (b[p] !== QUOTE) return NO;
    const start = p + 1;
    let close = start;
    // Digits, `-` and `.` only: an escape or anything else stops here and fails below.
    for (let c = b[close] as number; isDigit(c) || c === DOT || c === MINUS; c = b[++close] as number);
    if (b[close] !== QUOTE) return NO;
    const v = parseScaledDecimalBytes(b, start, close, PRICE_PLACES);
    if (v === null || (!signed && (v < 0 || Object.is(v, -0)))) return NO;
    this.end = close + 1;
    return v;
  }

  /**
   * A JSON integer within [min, max], written plainly: optional minus, no leading zeros, at most 15
   * digits (so the value is exact without further checks). `3.0`, `3e0` and longer numbers go to the
   * reference, which sees what JSON.parse makes of them.
   */
  private integer(b: Buffer, p: number, min: number, max: number): number | null {
    let i = p;
    const negative = b[i] === MINUS;
    if (negative) i++;
    const first = i;
    let value = 0;
    for (let c = b[i] as number; isDigit(c); c = b[++i] as number) value = value * 10 + (c - ZERO);
    const digits = i - first;
    if (digits < 1 || digits > 15 || (digits > 1 && b[first] === ZERO)) return NO;
    const next = b[i];
    if (next === DOT || next === LOWER_E || next === UPPER_E) return NO;
    const v = negative ? -value : value;
    if (v < min || v > max) return NO;
    this.end = i;
    return v;
  }

  private code(b: Buffer, p: number): string | null {
    if (b[p] !== QUOTE) return NO;
    const start = p + 1;
    let i = start;
    while (i - start <= MAX_CODE && isCodeChar(b[i] as number)) i++;
    const length = i - start;
    if (length < 1 || length > MAX_CODE || b[i] !== QUOTE) return NO;
    this.end = i + 1;
    return latin1(b, start, i);
  }

  /** `YYYY-MM-DDTHH:MM:SS[.f{1,6}]`, kept as text. */
  private datetime(b: Buffer, p: number): string | null {
    if (b[p] !== QUOTE) return NO;
    const s = p + 1;
    for (let j = 0; j < DATETIME_SHAPE.length; j++) {
      const want = DATETIME_SHAPE[j] as number;
      const c = b[s + j] as number;
      if (want === DIGIT_SLOT ? !isDigit(c) : c !== want) return NO;
    }
    let i = s + DATETIME_SHAPE.length;
    if (b[i] === DOT) {
      const fracStart = ++i;
      while (i - fracStart < 7 && isDigit(b[i] as number)) i++;
      if (i === fracStart || i - fracStart > 6) return NO;
    }
    if (b[i] !== QUOTE) return NO;
    this.end = i + 1;
    return latin1(b, s, i);
  }

  private kindAt(b: Buffer, p: number): QuoteKind | null {
    for (const [literal, kind] of KIND_LITERALS) {
      if (at(b, p, literal)) {
        this.end = p + literal.length;
        return kind;
      }
    }
    return NO;
  }
}

/** Text of bytes already checked to be ASCII (so latin1 and UTF-8 read them alike). */
function latin1(b: Buffer, start: number, end: number): string {
  return b.toString('latin1', start, end);
}
