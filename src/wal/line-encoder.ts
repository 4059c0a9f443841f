import { CRC32_INIT, crc32Final, crc32Update } from './crc32.js';

/** Payloads up to this many UTF-16 units take the byte-loop path (the scratch buffer is 3 bytes each). */
const FAST_PAYLOAD_UNITS = 16 * 1024;
/** `,"crc":` + at most 10 digits + `}\n`. */
const TAIL_MAX = 19;
/** Digits of a safe-integer seq (16) and of a ts_ns (20). */
const SEQ_MAX = 16;
const TS_MAX = 20;
const TS_MARK = Buffer.from(',"ts_ns":"');

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
 *   `JSON.stringify` of the string;
 * - one CRC pass (slicing-by-8) over the line's bytes after the prefix.
 *
 * test/wal/line-encoder.test.ts proves byte equality with `encodeRecord` for any producer, topic, seq,
 * timestamp and payload.
 */
export class LineEncoder {
  private readonly head: Buffer;
  private readonly headCrc: number;
  private readonly topicParts: Buffer[];
  private readonly fixedMax: number[];
  private readonly scratch = Buffer.allocUnsafeSlow(3 * FAST_PAYLOAD_UNITS);

  constructor(producerId: string, topics: readonly string[]) {
    this.head = Buffer.from(`{"producer_id":${JSON.stringify(producerId)},"seq":`);
    this.headCrc = crc32Update(CRC32_INIT, this.head, 0, this.head.length);
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
    const head = this.head;
    buf.set(head, offset);
    let p = writeDecimal(buf, offset + head.length, seq);
    buf.set(TS_MARK, p);
    p += TS_MARK.length;
    if (sec === 0) p = writeDecimal(buf, p, nsec);
    else p = writeNanos(buf, writeDecimal(buf, p, sec), nsec);
    const part = this.topicParts[topicIndex] as Buffer;
    buf.set(part, p);
    p += part.length;
    p = this.writePayload(buf, p, payload);
    let crc = crc32Final(crc32Update(this.headCrc, buf, offset + head.length, p));
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

/** Writes a non-negative safe integer in decimal at `p`; returns the end. */
function writeDecimal(buf: Buffer, p: number, value: number): number {
  let v = value;
  if (v < 0x80000000) {
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
  return p + buf.write(String(v), p, 'latin1');
}

/** Nanoseconds within a second (0 ≤ v < 1e9 < 2^31) as exactly 9 digits at `p`. */
function writeNanos(buf: Buffer, p: number, value: number): number {
  let v = value;
  for (let q = p + 8; q >= p; q--) {
    const d = (v / 10) | 0;
    buf[q] = 0x30 + v - d * 10;
    v = d;
  }
  return p + 9;
}
