import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32Range } from '../../src/wal/crc32.js';
import { LineEncoder } from '../../src/wal/line-encoder.js';
import { decodeRecord, encodeRecord } from '../../src/wal/record.js';

describe('LineEncoder (hot-path encoder)', () => {
  it('writes exactly the bytes encodeRecord produces, for any producer, topic and payload', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.jsonValue(),
        fc.string({ unit: 'binary' }),
        (producerId, topic, seq, tsNs, value, text) => {
          const encoder = new LineEncoder(producerId);
          for (const payload of [JSON.stringify(value), JSON.stringify(text)]) {
            const body = encoder.body(seq, tsNs.toString(), topic, payload);
            const buf = Buffer.alloc(LineEncoder.maxBytes(body.length) + 8, 0xee);
            const n = LineEncoder.writeLine(buf, 3, body);
            const expected = encodeRecord({ producerId, seq, tsNs, topic, payload });
            expect(buf.subarray(3, 3 + n)).toEqual(expected);
            expect(n).toBeLessThanOrEqual(LineEncoder.maxBytes(body.length));
            const decoded = decodeRecord(buf.subarray(3, 3 + n));
            expect(decoded.ok && decoded.record.payload).toBe(payload);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('computes the same CRC-32 as zlib over any byte range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
        expect(crc32Range(bytes, start, end)).toBe(crc32(bytes.subarray(start, end)));
      }),
      { numRuns: 500 },
    );
  });
});
