import { crc32 as zlibCrc32 } from 'node:zlib';
import { CRC32_INIT, crc32Final, crc32Update } from './crc32.js';

/** Payloads up to this many UTF-16 units take the byte-loop path (the scratch buffer is 3 bytes each). */
const FAST_PAYLOAD_UNITS = 16 * 1024;
/** `,"crc":` + at most 10 digits + `}\n`. */
const TAIL_MAX = 19;
/** Digits of a safe-integer seq (16) and of a ts_ns (20). */
const SEQ_MAX = 16;
const TS_MAX = 20;
const TS_MARK = Buffer.from(',"ts_ns":"');
/** Bytes after the producer prefix from which the CRC is cheaper through zlib (measured crossover ~290). */
const ZLIB_CRC_MIN = 320;

/**
 * The hot-path twin of `encodeRecord` (record.ts): writes the identical bytes straight into a caller-owned
 * buffer, with no string building and no allocation per record. Per record:
 *
 * - the producer prefix and each topic's part are UTF-8 bytes made once, and the CRC register after the
 *   producer prefix is computed once too (the CRC of every line starts with the same ~30 bytes);
 * - seq, ts_ns and the CRC are written as decimal digits with integer arithmetic;
 * - the payload (a `JSON.stringify` result) is written with one native UTF-8 write into a scratch buffer,
 *   then copied into the line with `"` and `\` escaped. That byte copy *is* `JSON.stringify(payload)`:
 *   JSON text has no raw control characters or lone surrogates, so those two are the only characters
 *   that string escaping changes, and UTF-8 bytes of non-ASCII characters are never 0x22 or 0x5c. A
 *   payload with a control character (not JSON text) or above FAST_PAYLOAD_UNITS takes the general path,
 *   `JSON.stringify` of the string. `writeEscaped` takes a payload a JsonPayload built already escaped
 *   (the quote workers build theirs that way) and copies it in natively;
 * - one CRC pass over the line's bytes after the prefix: slicing-by-8 in JS for short lines, zlib's
 *   (hardware-assisted, but ~0.4 µs per call) for long ones.
 *
 * test/wal/line-encoder.test.ts proves byte equality with `encodeRecord` for any producer, topic, seq,
 * timestamp and payload, for both entry points.
 */
export class LineEncoder {
  private readonly head: Buffer;
  private readonly headCrc: number;
  /** The same as a finished CRC value, zlib's form of a running CRC. */
  private readonly headCrcValue: number;
  private readonly topicParts: Buffer[];
  private readonly fixedMax: number[];
  private readonly scratch = Buffer.allocUnsafeSlow(3 * FAST_PAYLOAD_UNITS);

  constructor(producerId: string, topics: readonly string[]) {
    this.head = Buffer.from(`{"producer_id":${JSON.stringify(producerId)},"seq":`);
    this.headCrc = crc32Update(CRC32_INIT, this.head, 0, this.head.length);
    this.headCrcValue = crc32Final(this.headCrc);
    this.topicParts = topics.map((t) => Buffer.from(`","topic":${JSON.stringify(t)},"payload":`));
    this.fixedMax = this.topicParts.map(
      (part) => this.head.length + SEQ_MAX + TS_MARK.length + TS_MAX + part.length + TAIL_MAX,
    );
  }

  /**
   * Upper bound of the encoded size of a record of topic `topicIndex` whose payload string has
   * `payloadLength` UTF-16 units: the escaped payload takes at most 6 bytes per unit plus its quotes
   * (`\u0001` for a control character or a lone surrogate; JSON text itself needs at most 3).
   */
  maxBytes(topicIndex: number, payloadLength: number): number {
    return (this.fixedMax[topicIndex] as number) + 6 * payloadLength + 2;
  }

  /** Encoded size of a record of topic `topicIndex` whose payload is `escapedLength` escaped bytes (at most). */
  maxBytesEscaped(topicIndex: number, escapedLength: number): number {
    return (this.fixedMax[topicIndex] as number) + escapedLength + 2;
  }

  /**
   * Writes the record's line at `offset` (the caller guarantees `maxBytes` free bytes) and returns the
   * number of bytes written. `sec`/`nsec` are the timestamp (see RecordClock).
   */
  write(
    buf: Buffer,
    offset: number,
    seq: number,
    sec: number,
    nsec: number,
    topicIndex: number,
    payload: string,
  ): number {
    const p = this.writePayload(buf, this.writePrefix(buf, offset, seq, sec, nsec, topicIndex), payload);
    return this.writeTail(buf, offset, p);
  }

  /**
   * The same line for a payload that is already escaped as the payload string's body (`src[0, length)`,
   * built by a JsonPayload, which guarantees the form): one native copy between the quotes.
   */
  writeEscaped(
    buf: Buffer,
    offset: number,
    seq: number,
    sec: number,
    nsec: number,
    topicIndex: number,
    src: Buffer,
    length: number,
  ): number {
    let q = this.writePrefix(buf, offset, seq, sec, nsec, topicIndex);
    buf[q++] = 0x22;
    q += src.copy(buf, q, 0, length);
    buf[q++] = 0x22;
    return this.writeTail(buf, offset, q);
  }

  /** Producer, seq, ts_ns and topic up to the payload's opening quote; returns the end. */
  private writePrefix(
    buf: Buffer,
    offset: number,
    seq: number,
    sec: number,
    nsec: number,
    topicIndex: number,
  ): number {
    const head = this.head;
    buf.set(head, offset);
    let p = writeDecimal(buf, offset + head.length, seq);
    buf.set(TS_MARK, p);
    p += TS_MARK.length;
    if (sec === 0) p = writeDecimal(buf, p, nsec);
    else p = writeNanos(buf, writeDecimal(buf, p, sec), nsec);
    const part = this.topicParts[topicIndex] as Buffer;
    buf.set(part, p);
    return p + part.length;
  }

  /** `,"crc":<crc>}\n` after the payload ending at `end`; returns the line's length. */
  private writeTail(buf: Buffer, offset: number, end: number): number {
    let p = end;
    const from = offset + this.head.length;
    // zlib's CRC (hardware-assisted) costs a fixed ~0.4 µs per call, the table loop ~1.2 ns per byte
    // here: the loop wins on short lines, zlib on long ones (bench/wal, docs/wal.md). Same value.
    let crc =
      p - from >= ZLIB_CRC_MIN
        ? zlibCrc32(buf.subarray(from, p), this.headCrcValue)
        : crc32Final(crc32Update(this.headCrc, buf, from, p));
    buf[p++] = 0x2c; // ,
    buf[p++] = 0x22; // "
    buf[p++] = 0x63; // c
    buf[p++] = 0x72; // r
    buf[p++] = 0x63; // c
    buf[p++] = 0x22; // "
    buf[p++] = 0x3a; // :
    // crc < 2^32: `(x / 10) >>> 0` is an exact integer division.
    let digits = 1;
    for (let v = crc; v >= 10; v = (v / 10) >>> 0) digits++;
    p += digits;
    for (let q = p - 1; q >= p - digits; q--) {
      const d = (crc / 10) >>> 0;
      buf[q] = 0x30 + crc - d * 10;
      crc = d;
    }
    buf[p++] = 0x7d; // }
    buf[p++] = 0x0a; // \n
    return p - offset;
  }

  /** The payload as a JSON string (quoted, escaped) at `p`; returns the end. */
  private writePayload(buf: Buffer, p: number, payload: string): number {
    if (payload.length <= FAST_PAYLOAD_UNITS) {
      const scratch = this.scratch;
      const n = scratch.write(payload, 0, 'utf8');
      let q = p;
      buf[q++] = 0x22;
      let i = 0;
      for (; i < n; i++) {
        const b = scratch[i] as number;
        if (b === 0x22 || b === 0x5c) buf[q++] = 0x5c;
        else if (b < 0x20) break; // not JSON text: JSON.stringify escapes it differently
        buf[q++] = b;
      }
      if (i === n) {
        buf[q++] = 0x22;
        return q;
      }
    }
    return p + buf.write(JSON.stringify(payload), p, 'utf8');
  }
}

/**
 * Writes a non-negative safe integer in decimal at `p`; returns the end. Above 2^31 the value is split
 * into whole hundred-millions and an 8-digit rest (both exact in a double), so no string is built.
 */
export function writeDecimal(buf: Uint8Array, p: number, value: number): number {
  if (value >= 0x80000000) {
    const high = Math.floor(value / 1e8);
    return writeFixed(buf, writeInt31(buf, p, high), value - high * 1e8, 8);
  }
  return writeInt31(buf, p, value);
}

/** A value in [0, 2^31) in decimal at `p`; returns the end. */
function writeInt31(buf: Uint8Array, p: number, value: number): number {
  let v = value;
  let digits = 1;
  for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
  const end = p + digits;
  for (let q = end - 1; q >= p; q--) {
    const d = (v / 10) | 0;
    buf[q] = 0x30 + v - d * 10;
    v = d;
  }
  return end;
}

/** A value in [0, 10^width) (< 2^31) as exactly `width` digits, zero-padded, at `p`; returns the end. */
function writeFixed(buf: Uint8Array, p: number, value: number, width: number): number {
  let v = value;
  for (let q = p + width - 1; q >= p; q--) {
    const d = (v / 10) | 0;
    buf[q] = 0x30 + v - d * 10;
    v = d;
  }
  return p + width;
}

/** Nanoseconds within a second (0 ≤ v < 1e9 < 2^31) as exactly 9 digits at `p`. */
function writeNanos(buf: Uint8Array, p: number, value: number): number {
  return writeFixed(buf, p, value, 9);
}
