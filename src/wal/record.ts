import { crc32 } from 'node:zlib';

/**
 * WAL record codec. One record is one line of ClickHouse `JSONEachRow`, fields in this fixed order:
 *
 *   {"producer_id":"gw-1","seq":42,"ts_ns":"1764000000000000000","topic":"gateway.decision","payload":"…","crc":123}\n
 *
 * - `seq` is the per-producer monotonic sequence (a safe integer); (producer_id, seq) is the business key.
 * - `ts_ns` is wall-clock nanoseconds as a quoted decimal (exact in JS; ClickHouse parses it into UInt64).
 * - `payload` is the event as a JSON string (ClickHouse column `String`).
 * - `crc` is CRC-32 (zlib) of the line's bytes before `,"crc":`. A record whose CRC does not match, or a
 *   last line without its newline, is torn or corrupt.
 *
 * A sealed segment is a concatenation of such lines, so a loader streams the file into
 * `INSERT … FORMAT JSONEachRow` without re-encoding.
 */
export interface WalRecord {
  readonly producerId: string;
  readonly seq: number;
  readonly tsNs: bigint;
  readonly topic: string;
  /** The event, serialized as JSON text. */
  readonly payload: string;
}

const CRC_MARK = ',"crc":';
const CRC_MARK_BYTES = Buffer.from(CRC_MARK);
const NEWLINE = 0x0a;

export function encodeRecord(record: WalRecord): Buffer {
  const body =
    `{"producer_id":${JSON.stringify(record.producerId)},"seq":${record.seq},"ts_ns":"${record.tsNs}",` +
    `"topic":${JSON.stringify(record.topic)},"payload":${JSON.stringify(record.payload)}`;
  const bodyBytes = Buffer.from(body, 'utf8');
  const tail = Buffer.from(`${CRC_MARK}${crc32(bodyBytes)}}\n`, 'latin1');
  return Buffer.concat([bodyBytes, tail], bodyBytes.length + tail.length);
}

export type DecodeResult =
  | { readonly ok: true; readonly record: WalRecord; readonly bytes: number }
  | { readonly ok: false; readonly reason: 'torn' | 'corrupt'; readonly detail: string };

/**
 * Decodes the record starting at `offset`. `torn`: the buffer ends before the record's newline (an
 * interrupted append). `corrupt`: a complete line whose CRC or structure is wrong.
 */
export function decodeRecord(buf: Buffer, offset = 0): DecodeResult {
  const end = buf.indexOf(NEWLINE, offset);
  if (end < 0) return { ok: false, reason: 'torn', detail: `no newline after offset ${offset}` };
  const line = buf.subarray(offset, end);
  const mark = line.lastIndexOf(CRC_MARK_BYTES);
  if (mark < 0) return { ok: false, reason: 'corrupt', detail: `no crc at offset ${offset}` };
  const stored = Number(line.subarray(mark + CRC_MARK_BYTES.length, line.length - 1).toString('latin1'));
  if (line[line.length - 1] !== 0x7d || crc32(line.subarray(0, mark)) !== stored) {
    return { ok: false, reason: 'corrupt', detail: `crc mismatch at offset ${offset}` };
  }
  let parsed: { producer_id: string; seq: number; ts_ns: string; topic: string; payload: string };
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return { ok: false, reason: 'corrupt', detail: `unparsable record at offset ${offset}` };
  }
  return {
    ok: true,
    bytes: end + 1 - offset,
    record: {
      producerId: parsed.producer_id,
      seq: parsed.seq,
      tsNs: BigInt(parsed.ts_ns),
      topic: parsed.topic,
      payload: parsed.payload,
    },
  };
}
