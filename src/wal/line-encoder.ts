import { crc32Range } from './crc32.js';

/**
 * The hot-path twin of `encodeRecord` (record.ts): writes the identical bytes straight into a caller-owned
 * buffer instead of allocating three Buffers per record. The producer and topic parts of the line are
 * JSON-escaped once; per record there is one utf8 write of the body, one CRC over it, and one latin1
 * write of the tail. test/wal/line-encoder.test.ts proves byte equality with `encodeRecord`.
 */
export class LineEncoder {
  private readonly head: string;
  private readonly topicParts = new Map<string, string>();

  constructor(producerId: string) {
    this.head = `{"producer_id":${JSON.stringify(producerId)},"seq":`;
  }

  /**
   * Upper bound of the encoded size of a record whose body string has `bodyLength` UTF-16 units: utf8
   * needs at most 3 bytes per unit, and the tail `,"crc":4294967295}\n` is 19 bytes.
   */
  static maxBytes(bodyLength: number): number {
    return bodyLength * 3 + 19;
  }

  /** The record's body (everything the CRC covers), as a string. */
  body(seq: number, tsNs: string, topic: string, payloadJson: string): string {
    let topicPart = this.topicParts.get(topic);
    if (topicPart === undefined) {
      topicPart = `","topic":${JSON.stringify(topic)},"payload":`;
      this.topicParts.set(topic, topicPart);
    }
    return this.head + seq + ',"ts_ns":"' + tsNs + topicPart + JSON.stringify(payloadJson);
  }

  /**
   * Writes the line for `body` at `offset` (the caller guarantees `maxBytes(body.length)` free bytes) and
   * returns the number of bytes written.
   */
  static writeLine(buf: Buffer, offset: number, body: string): number {
    const bodyEnd = offset + buf.write(body, offset, 'utf8');
    let crc = crc32Range(buf, offset, bodyEnd);
    // `,"crc":<decimal>}\n` written byte by byte: a template string plus a latin1 write costs more
    // than the whole CRC on a short record.
    let p = bodyEnd;
    buf[p++] = 0x2c; // ,
    buf[p++] = 0x22; // "
    buf[p++] = 0x63; // c
    buf[p++] = 0x72; // r
    buf[p++] = 0x63; // c
    buf[p++] = 0x22; // "
    buf[p++] = 0x3a; // :
    let digits = 1;
    for (let v = crc; v >= 10; v = Math.floor(v / 10)) digits++;
    p += digits;
    for (let q = p - 1; q >= p - digits; q--) {
      buf[q] = 0x30 + (crc % 10);
      crc = Math.floor(crc / 10);
    }
    buf[p++] = 0x7d; // }
    buf[p++] = 0x0a; // \n
    return p - offset;
  }
}
