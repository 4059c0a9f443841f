import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { crc32 } from 'node:zlib';
import { GatewayError } from '../src/errors.js';
import type { SegmentManifest } from '../src/wal/manifest.js';

/** Why a segment was quarantined: the `reason` label of hft_loader_quarantined_total. */
export const QUARANTINE_REASONS = [
  'manifest_invalid',
  'checksum',
  'size',
  'record_count',
  'record_crc',
  'record_shape',
  'seq_order',
  'seq_range',
  'torn_tail',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

export function segmentCorrupt(segmentId: string, reason: QuarantineReason, detail: string): GatewayError {
  return new GatewayError('GW_ERR_SEGMENT_CHECKSUM', `${segmentId}: ${reason}: ${detail}`, {
    segmentId,
    reason,
  });
}

export function quarantineReasonOf(err: unknown): QuarantineReason | undefined {
  if (!(err instanceof GatewayError) || err.code !== 'GW_ERR_SEGMENT_CHECKSUM') return undefined;
  return err.details.reason as QuarantineReason;
}

/** One INSERT's worth of records: slices of the file's own bytes, never re-encoded. */
export interface SegmentBatch {
  readonly index: number;
  readonly chunks: readonly Buffer[];
  readonly rows: number;
  readonly bytes: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

export interface SegmentReaderOptions {
  readonly batchRows: number;
  readonly batchBytes: number;
  /** Records with seq ≤ this are read and verified but not put in a batch (already in ClickHouse). */
  readonly skipThroughSeq?: number;
  readonly readChunkBytes?: number;
}

const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const CRC_MARK = Buffer.from(',"crc":');
const TS_MARK = Buffer.from(',"ts_ns":"');

/**
 * Streams a sealed segment as batches of whole records, verifying while it reads: every record's CRC,
 * shape (producer and topic of the manifest), strictly increasing seq within the manifest's range; and
 * at the end the file's size, record count and sha256 against the manifest. The last batch is yielded
 * only after those end checks pass, so a failed segment never has its tail inserted; earlier batches hold
 * only records that passed their own CRC (see docs/replay.md, "quarantine").
 *
 * Reading is pulled by the consumer: while an INSERT is in flight nothing more is read, so a slow
 * ClickHouse slows the reader instead of growing memory (at most one batch plus one read chunk).
 */
export class SegmentReader {
  private readonly prefix: Buffer;
  private readonly topicMark: Buffer;

  constructor(
    private readonly path: string,
    private readonly manifest: SegmentManifest,
    private readonly opts: SegmentReaderOptions,
  ) {
    this.prefix = Buffer.from(`{"producer_id":${JSON.stringify(manifest.producerId)},"seq":`);
    this.topicMark = Buffer.from(`","topic":${JSON.stringify(manifest.topic)},"payload":`);
  }

  async *batches(): AsyncGenerator<SegmentBatch> {
    const manifest = this.manifest;
    const opts = this.opts;
    const skipThrough = opts.skipThroughSeq ?? -1;
    const hash = createHash('sha256');
    let totalBytes = 0;
    let rowsSeen = 0;
    let lastSeq = -1;
    let carry: Buffer | undefined;
    let batch = newBatch(0);

    const stream = createReadStream(this.path, { highWaterMark: opts.readChunkBytes ?? 1024 * 1024 });
    for await (const raw of stream as AsyncIterable<Buffer>) {
      hash.update(raw);
      totalBytes += raw.length;
      const chunk = carry ? Buffer.concat([carry, raw]) : raw;
      carry = undefined;
      let lineStart = 0;
      let runStart = -1;
      const closeRun = (end: number) => {
        if (runStart >= 0 && end > runStart) {
          batch.chunks.push(chunk.subarray(runStart, end));
          batch.bytes += end - runStart;
        }
        runStart = -1;
      };
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, lineStart);
        if (nl < 0) break;
        const seq = this.verifyLine(chunk, lineStart, nl, rowsSeen);
        if (seq <= lastSeq) throw this.corrupt('seq_order', `seq ${seq} after ${lastSeq}`);
        if (seq < manifest.firstSeq || seq > manifest.lastSeq) {
          throw this.corrupt('seq_range', `seq ${seq} outside ${manifest.firstSeq}..${manifest.lastSeq}`);
        }
        lastSeq = seq;
        rowsSeen += 1;
        if (seq > skipThrough) {
          if (runStart < 0) runStart = lineStart;
          if (batch.rows === 0) batch.firstSeq = seq;
          batch.rows += 1;
          batch.lastSeq = seq;
        } else {
          closeRun(lineStart);
        }
        lineStart = nl + 1;
        const pending = runStart >= 0 ? lineStart - runStart : 0;
        if (batch.rows >= opts.batchRows || batch.bytes + pending >= opts.batchBytes) {
          closeRun(lineStart);
          if (batch.rows > 0) {
            yield freeze(batch);
            batch = newBatch(batch.index + 1);
          }
        }
      }
      closeRun(lineStart);
      // A record split across two reads: keep its head (a copy, so the chunk itself can be released).
      if (lineStart < chunk.length) carry = Buffer.from(chunk.subarray(lineStart));
    }

    if (carry) throw this.corrupt('torn_tail', `${carry.length} bytes after the last newline`);
    if (totalBytes !== manifest.bytes)
      throw this.corrupt('size', `${totalBytes} bytes, manifest says ${manifest.bytes}`);
    if (rowsSeen !== manifest.recordCount) {
      throw this.corrupt('record_count', `${rowsSeen} records, manifest says ${manifest.recordCount}`);
    }
    const digest = hash.digest('hex');
    if (digest !== manifest.sha256)
      throw this.corrupt('checksum', `sha256 ${digest}, manifest says ${manifest.sha256}`);
    if (batch.rows > 0) yield freeze(batch);
  }

  /** Checks one line [start, end) (end = its newline) and returns its seq. */
  private verifyLine(buf: Buffer, start: number, end: number, index: number): number {
    const where = () => `record ${index} at line offset ${start}`;
    const prefix = this.prefix;
    const topicMark = this.topicMark;
    if (
      end - start < prefix.length + 16 ||
      buf.compare(prefix, 0, prefix.length, start, start + prefix.length) !== 0
    ) {
      throw this.corrupt('record_shape', `${where()}: not a record of this producer`);
    }
    const mark = buf.lastIndexOf(CRC_MARK, end - 1);
    if (mark < start || buf[end - 1] !== CLOSE_BRACE)
      throw this.corrupt('record_shape', `${where()}: no crc`);
    const stored = parseDigits(buf, mark + CRC_MARK.length, end - 1);
    if (stored < 0 || crc32(buf.subarray(start, mark)) !== stored) {
      throw this.corrupt('record_crc', `${where()}: crc mismatch`);
    }
    let pos = start + prefix.length;
    const seqStart = pos;
    while (pos < end && buf[pos] !== COMMA) pos += 1;
    const seq = parseDigits(buf, seqStart, pos);
    if (seq < 0 || buf.compare(TS_MARK, 0, TS_MARK.length, pos, pos + TS_MARK.length) !== 0) {
      throw this.corrupt('record_shape', `${where()}: bad seq or ts_ns`);
    }
    pos += TS_MARK.length;
    const tsStart = pos;
    while (pos < end && buf[pos] !== QUOTE) pos += 1;
    if (pos === tsStart || pos - tsStart > 20 || parseDigits(buf, tsStart, Math.min(pos, tsStart + 15)) < 0) {
      throw this.corrupt('record_shape', `${where()}: bad ts_ns`);
    }
    if (buf.compare(topicMark, 0, topicMark.length, pos, pos + topicMark.length) !== 0) {
      throw this.corrupt('record_shape', `${where()}: not a record of topic ${this.manifest.topic}`);
    }
    return seq;
  }

  private corrupt(reason: QuarantineReason, detail: string): GatewayError {
    return segmentCorrupt(this.manifest.segmentId, reason, detail);
  }
}

interface MutableBatch {
  index: number;
  chunks: Buffer[];
  rows: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

function newBatch(index: number): MutableBatch {
  return { index, chunks: [], rows: 0, bytes: 0, firstSeq: -1, lastSeq: -1 };
}

function freeze(batch: MutableBatch): SegmentBatch {
  return Object.freeze({ ...batch, chunks: Object.freeze([...batch.chunks]) });
}

/** Decimal digits in [start, end) as a safe integer, or -1. */
function parseDigits(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 15) {
    if (end - start === 16) {
      // 16 digits may still be a safe integer (seq up to 2^53).
      const n = Number(buf.toString('latin1', start, end));
      return /^\d+$/.test(buf.toString('latin1', start, end)) && Number.isSafeInteger(n) ? n : -1;
    }
    return -1;
  }
  let n = 0;
  for (let i = start; i < end; i += 1) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
