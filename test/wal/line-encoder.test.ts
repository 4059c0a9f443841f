import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32Range } from '../../src/wal/crc32.js';
import { systemClock } from '../../src/clock.js';
import { LineEncoder } from '../../src/wal/line-encoder.js';
import { RecordClock } from '../../src/wal/record-clock.js';
import { decodeRecord, encodeRecord } from '../../src/wal/record.js';

describe('LineEncoder (hot-path encoder)', () => {
  it('writes exactly the bytes encodeRecord produces, for any producer, topic, timestamp and payload', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.jsonValue(),
        fc.string({ unit: 'binary' }),
        (producerId, topic, seq, tsNs, value, text) => {
          const encoder = new LineEncoder(producerId, ['other.topic', topic]);
          const sec = Number(tsNs / 1_000_000_000n);
          const nsec = Number(tsNs % 1_000_000_000n);
          // JSON text (the hot path) and raw strings with control characters or lone surrogates (the
          // general path) alike.
          for (const payload of [JSON.stringify(value), JSON.stringify(text), text]) {
            const max = encoder.maxBytes(1, payload.length);
            const buf = Buffer.alloc(max + 8, 0xee);
            const n = encoder.write(buf, 3, seq, sec, nsec, 1, payload);
            const expected = encodeRecord({ producerId, seq, tsNs, topic, payload });
            expect(buf.subarray(3, 3 + n)).toEqual(expected);
            expect(n).toBeLessThanOrEqual(max);
            const decoded = decodeRecord(buf.subarray(3, 3 + n));
            expect(decoded.ok && decoded.record.payload).toBe(payload);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes the same bytes from a payload given already escaped, short or long (both CRC paths)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.jsonValue(),
        fc.string({ unit: 'binary', maxLength: 1_500 }),
        (producerId, seq, tsNs, value, text) => {
          const topic = 'market.tick';
          const encoder = new LineEncoder(producerId, ['other.topic', topic]);
          const sec = Number(tsNs / 1_000_000_000n);
          const nsec = Number(tsNs % 1_000_000_000n);
          for (const payload of [JSON.stringify(value), JSON.stringify(text), text]) {
            const escaped = Buffer.from(JSON.stringify(payload).slice(1, -1), 'utf8');
            const src = Buffer.alloc(escaped.length + 16, 0xee);
            escaped.copy(src);
            const max = encoder.maxBytesEscaped(1, escaped.length);
            const buf = Buffer.alloc(max + 8, 0xee);
            const n = encoder.writeEscaped(buf, 3, seq, sec, nsec, 1, src, escaped.length);
            expect(buf.subarray(3, 3 + n)).toEqual(encodeRecord({ producerId, seq, tsNs, topic, payload }));
            expect(n).toBeLessThanOrEqual(max);
            // The string entry point agrees, whichever CRC path the length took.
            const again = Buffer.alloc(encoder.maxBytes(1, payload.length));
            expect(again.subarray(0, encoder.write(again, 0, seq, sec, nsec, 1, payload))).toEqual(
              buf.subarray(3, 3 + n),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('formats a timestamp as its decimal nanoseconds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (tsNs) => {
        const sec = Number(tsNs / 1_000_000_000n);
        expect(RecordClock.format(sec, Number(tsNs % 1_000_000_000n))).toBe(tsNs.toString());
      }),
    );
  });

  it('stamps records with the wall clock, never going backwards', () => {
    const clock = new RecordClock(systemClock);
    let previous = 0n;
    for (let i = 0; i < 10_000; i++) {
      clock.sample();
      const ts = BigInt(RecordClock.format(clock.sec, clock.nsec));
      expect(ts >= previous).toBe(true);
      previous = ts;
    }
    // The wall clock read between two samples lies between them (give or take the anchor's pairing).
    clock.sample();
    const before = BigInt(RecordClock.format(clock.sec, clock.nsec));
    const wall = systemClock.wallNs();
    clock.sample();
    const after = BigInt(RecordClock.format(clock.sec, clock.nsec));
    expect(wall >= before - 1_000_000n && wall <= after + 1_000_000n).toBe(true);
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
