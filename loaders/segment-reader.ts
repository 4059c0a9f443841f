import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { GatewayError } from '../src/errors.js';
import type { SegmentManifest } from '../src/wal/manifest.js';

/** Why a segment was quarantined: the `reason` label of hft_loader_quarantined_total. */
export const QUARANTINE_REASONS = [
  'manifest_invalid',
  'checksum',
  'size',
  'record_count',
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
const TS_MARK = Buffer.from(',"ts_ns":"');

/**
 * Reads a sealed segment in two passes, so nothing of a segment that does not match its manifest is ever
 * inserted:
 *
 * 1. {@link SegmentReader.verifyFile}: size and sha256 of the whole file against the manifest (a sealed
 *    segment is immutable; this pass costs one sequential read, usually from the page cache).
 * 2. {@link SegmentReader.batches}: batches of whole records, each line checked for shape (the manifest's
 *    producer and topic), strictly increasing seq within the manifest's range; sha256, size and record
 *    count checked again at the end, and the last batch yielded only after they pass (a file changed
 *    between the passes, a disk fault, is still caught; earlier batches then hold records that passed
 *    pass 1's checksum).
 *
 * Per-record CRCs are not recomputed: the whole-file sha256 already proves every byte is the one sealed.
 * Reading is pulled by the consumer: nothing more is read than the batch asked for, so a slow ClickHouse
 * slows the reader instead of growing memory.
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

  /** Pass 1: the whole file's size and sha256 against the manifest. */
  static async verifyFile(
    path: string,
    manifest: SegmentManifest,
    readChunkBytes = 1024 * 1024,
  ): Promise<void> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createReadStream(path, {
      highWaterMark: readChunkBytes,
    }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    if (bytes !== manifest.bytes) {
      throw segmentCorrupt(manifest.segmentId, 'size', `${bytes} bytes, manifest says ${manifest.bytes}`);
    }
    const digest = hash.digest('hex');
    if (digest !== manifest.sha256) {
      throw segmentCorrupt(
        manifest.segmentId,
        'checksum',
        `sha256 ${digest}, manifest says ${manifest.sha256}`,
      );
    }
  }

  /** Pass 2: the batches (see the class comment). */
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
    // Hot path (once per record): plain byte loops, no closures or Buffer.compare calls.
    const prefix = this.prefix;
    if (end - start < prefix.length + 16 || !matchesAt(buf, start, prefix)) {
      throw this.lineError(index, start, 'not a record of this producer');
    }
    if (buf[end - 1] !== CLOSE_BRACE) throw this.lineError(index, start, 'not a closed object');
    let pos = start + prefix.length;
    const seqStart = pos;
    while (pos < end && buf[pos] !== COMMA) pos += 1;
    const seq = parseDigits(buf, seqStart, pos);
    if (seq < 0 || !matchesAt(buf, pos, TS_MARK)) throw this.lineError(index, start, 'bad seq or ts_ns');
    pos += TS_MARK.length;
    const tsStart = pos;
    while (pos < end && buf[pos] !== QUOTE) pos += 1;
    if (pos === tsStart || pos - tsStart > 20) throw this.lineError(index, start, 'bad ts_ns');
    if (!matchesAt(buf, pos, this.topicMark)) {
      throw this.lineError(index, start, `not a record of topic ${this.manifest.topic}`);
    }
    return seq;
  }

  private lineError(index: number, offset: number, what: string): GatewayError {
    return this.corrupt('record_shape', `record ${index} at chunk offset ${offset}: ${what}`);
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

function matchesAt(buf: Buffer, pos: number, pattern: Buffer): boolean {
  if (pos + pattern.length > buf.length) return false;
  for (let i = 0; i < pattern.length; i += 1) if (buf[pos + i] !== pattern[i]) return false;
  return true;
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
