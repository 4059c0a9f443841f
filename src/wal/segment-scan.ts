import { createHash } from 'node:crypto';
import { decodeRecord } from './record.js';

/** One record's position in a scanned segment. */
export interface ScannedRecord {
  readonly seq: number;
  readonly offset: number;
  readonly bytes: number;
  readonly tsNs: bigint;
}

export interface SegmentScan {
  readonly records: ScannedRecord[];
  /** Bytes from the start that hold complete, valid records. */
  readonly validBytes: number;
  /** Bytes after `validBytes` that are a torn tail (an interrupted append): safe to truncate. */
  readonly tornBytes: number;
  /** Set when a complete record fails its CRC/structure and valid records follow it. */
  readonly corrupt?: { readonly offset: number; readonly detail: string };
  /** Highest sequence of any decodable record, including those after a corrupt one (0 if none). */
  readonly maxSeq: number;
}

/**
 * Scans a segment's bytes with `decodeRecord`. A bad record with nothing valid after it is a torn tail
 * (a crash mid-append can leave a partial line, or a line of garbage/zeros after a power failure). A bad
 * record followed by a valid one is corruption in the middle: nothing is truncated and the caller
 * quarantines the segment.
 */
export function scanSegment(buf: Buffer): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const result = decodeRecord(buf, offset);
    if (result.ok) {
      records.push({ seq: result.record.seq, offset, bytes: result.bytes, tsNs: result.record.tsNs });
      offset += result.bytes;
      continue;
    }
    const maxBefore = records.length > 0 ? (records[records.length - 1] as ScannedRecord).seq : 0;
    const after = maxSeqAfter(buf, offset);
    if (result.reason === 'corrupt' && after > 0) {
      const corrupt = { offset, detail: result.detail };
      return { records, validBytes: offset, tornBytes: 0, corrupt, maxSeq: Math.max(maxBefore, after) };
    }
    return { records, validBytes: offset, tornBytes: buf.length - offset, maxSeq: maxBefore };
  }
  const maxSeq = records.length > 0 ? (records[records.length - 1] as ScannedRecord).seq : 0;
  return { records, validBytes: offset, tornBytes: 0, maxSeq };
}

/** Highest sequence among decodable lines after the bad record at `offset` (0 when none decodes). */
function maxSeqAfter(buf: Buffer, offset: number): number {
  let max = 0;
  let next = buf.indexOf(0x0a, offset);
  while (next >= 0 && next + 1 < buf.length) {
    const result = decodeRecord(buf, next + 1);
    if (result.ok) max = Math.max(max, result.record.seq);
    next = buf.indexOf(0x0a, next + 1);
  }
  return max;
}

export function sha256Hex(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}
