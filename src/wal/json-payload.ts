import { writeDecimal } from './line-encoder.js';

/** An object key made once: `\"name\":`, the form it has inside a record's payload string. */
export interface PayloadKey {
  readonly bytes: Uint8Array;
}

const OBJECT = 1;
const ARRAY = 2;
const MAX_DEPTH = 32;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/** True for text JSON writes without escapes, in ASCII: printable, no `"` and no `\`. */
function isPlain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * Builds one JSON value directly in the form it takes inside a WAL record: the text of
 * `JSON.stringify(value)` escaped as the record's `payload` string (`{\"px\":5855000}`), so
 * `WalWriter.recordJson` copies it into the line with one native copy — no object serialization, no
 * UTF-8 conversion and no escaping pass per record. The quote workers build their normalized quotes
 * with it (src/quotes/quote-json.ts).
 *
 * Validated by construction, which is what lets the WAL trust the bytes: the only way in is through the
 * methods below. Keys are made once with {@link JsonPayload.prepareKey} (checked there); text must need no
 * escaping in JSON and be ASCII (else the payload fails); numbers must be safe integers; a state machine
 * places commas and refuses a key outside an object, a value where a key belongs, unbalanced or too
 * deep nesting and a second top-level value. A failed payload is refused by the WAL
 * (GW_ERR_WAL_RECORD_INVALID); the caller records the object with `record()` instead.
 */
export class JsonPayload {
  readonly buf: Buffer;
  private length = 0;
  private failed = false;
  private depth = 0;
  private readonly stack = new Uint8Array(MAX_DEPTH + 1);
  /** A value or key was written in the current container: the next one needs a comma. */
  private needComma = false;
  /** A key was written: a value must follow. */
  private afterKey = false;
  private complete = false;

  /** `capacity`: the largest payload (escaped bytes) it can hold; a larger one fails. */
  constructor(capacity = 16 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
  }

  /** Prepares an object key. Throws for a name JSON would escape or that is not ASCII. */
  static prepareKey(name: string): PayloadKey {
    if (!isPlain(name)) throw new Error(`key ${JSON.stringify(name)} needs escaping`);
    return { bytes: Buffer.from(`\\"${name}\\":`, 'latin1') };
  }

  /** Starts a new value (the buffer is reused). */
  reset(): this {
    this.length = 0;
    this.failed = false;
    this.depth = 0;
    this.needComma = false;
    this.afterKey = false;
    this.complete = false;
    return this;
  }

  /** The escaped bytes' length in `buf`, or -1 if the value is incomplete or anything failed. */
  get size(): number {
    return this.failed || !this.complete || this.depth !== 0 ? -1 : this.length;
  }

  beginObject(): this {
    return this.open(OBJECT, 0x7b);
  }

  endObject(): this {
    return this.close(OBJECT, 0x7d);
  }

  beginArray(): this {
    return this.open(ARRAY, 0x5b);
  }

  endArray(): this {
    return this.close(ARRAY, 0x5d);
  }

  key(key: PayloadKey): this {
    if (this.failed) return this;
    if (this.stack[this.depth] !== OBJECT || this.afterKey) return this.fail();
    const bytes = key.bytes;
    if (!this.room(bytes.length + 1)) return this;
    const b = this.buf;
    let p = this.length;
    if (this.needComma) b[p++] = 0x2c;
    // TypedArray#set: ~2× cheaper than a byte loop for a key's 10–30 bytes (measured).
    b.set(bytes, p);
    this.length = p + bytes.length;
    this.afterKey = true;
    return this;
  }

  /** A safe integer as JSON.stringify writes it (-0 as `0`); anything else fails. */
  int(v: number): this {
    if (!this.value(18)) return this;
    if (!Number.isSafeInteger(v)) return this.fail();
    const b = this.buf;
    let p = this.length;
    if (v < 0) {
      b[p++] = 0x2d;
      this.length = writeDecimal(b, p, -v);
    } else {
      this.length = writeDecimal(b, p, v);
    }
    return this;
  }

  bool(v: boolean): this {
    if (!this.value(5)) return this;
    const bytes = v ? TRUE : FALSE;
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** Text that needs no escaping in JSON and is ASCII (anything else fails). */
  text(s: string): this {
    if (!this.value(s.length + 4)) return this;
    const b = this.buf;
    let p = this.length;
    b[p++] = 0x5c; // \
    b[p++] = 0x22; // "
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return this.fail();
      b[p++] = c;
    }
    b[p++] = 0x5c;
    b[p++] = 0x22;
    this.length = p;
    return this;
  }

  private open(kind: number, token: number): this {
    if (!this.value(1)) return this;
    if (this.depth === MAX_DEPTH) return this.fail();
    this.buf[this.length++] = token;
    this.stack[++this.depth] = kind;
    this.needComma = false;
    // `value` marked the top level complete; a container is complete only once closed.
    this.complete = false;
    return this;
  }

  private close(kind: number, token: number): this {
    if (this.failed) return this;
    if (this.depth === 0 || this.stack[this.depth] !== kind || this.afterKey) return this.fail();
    if (!this.room(1)) return this;
    this.buf[this.length++] = token;
    this.depth--;
    this.needComma = true;
    if (this.depth === 0) this.complete = true;
    return this;
  }

  /**
   * Admits a value of at most `maxBytes` at this point (writing its comma): after a key, in an array,
   * or as the one top-level value. False (and failed) otherwise.
   */
  private value(maxBytes: number): boolean {
    if (this.failed) return false;
    const top = this.stack[this.depth];
    if (this.depth === 0 ? this.complete || this.length > 0 : top === OBJECT && !this.afterKey) {
      this.fail();
      return false;
    }
    if (!this.room(maxBytes + 1)) return false;
    if (top === ARRAY && this.needComma) this.buf[this.length++] = 0x2c;
    this.afterKey = false;
    this.needComma = true;
    if (this.depth === 0) this.complete = true;
    return true;
  }

  private room(bytes: number): boolean {
    if (this.length + bytes <= this.buf.length) return true;
    this.fail();
    return false;
  }

  private fail(): this {
    this.failed = true;
    return this;
  }
}
