import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
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

/** One batch's place in the segment; one batch is one INSERT. */
export interface BatchSummary {
  readonly index: number;
  readonly rows: number;
  readonly bytes: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** A whole batch in memory: slices of the file's own bytes, never re-encoded. */
export interface SegmentBatch extends BatchSummary {
  readonly chunks: readonly Buffer[];
}

/** What pass 2 hands out, in order: verified bytes of the current batch, its end, the end of the file. */
export type Piece =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'batch-end'; readonly batch: BatchSummary }
  | { readonly kind: 'eof' };

/** How a segment is cut into batches (one batch is one INSERT). */
export interface BatchPlan {
  readonly batchRows: number;
  readonly batchBytes: number;
  /** Records with seq ≤ this are read and verified but not put in a batch (already in ClickHouse). */
  readonly skipThroughSeq?: number;
}

export interface SegmentReaderOptions extends BatchPlan {
  readonly readChunkBytes?: number;
}

/**
 * A whole segment in memory, read and checked in full by {@link SegmentReader.readVerified}: size and
 * sha256 against the manifest and every record's line checks passed, cut into batches.
 */
export interface VerifiedSegment {
  /** The file's bytes in order (views of `buffers`). */
  readonly chunks: readonly Buffer[];
  /** The pooled buffers behind `chunks`: give them back only once nothing uses the chunks any more. */
  readonly buffers: readonly Buffer[];
  /** The batches of the plan it was read with: slices of `chunks` (and copies of split records). */
  readonly batches: readonly SegmentBatch[];
}

/**
 * Read buffers reused across segments: {@link SegmentReader.readVerified} reads a segment into them, the
 * loader sends views of them and gives them back once the segment's INSERTs are done (a failed load never
 * gives them back, so a request still holding them cannot see them reused). Allocating ~9 fresh MiB per
 * segment instead cost the loader more in GC than the read itself (docs/loader-bench.md).
 */
export class ReadBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    private readonly maxFree: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  give(buffers: readonly Buffer[]): void {
    for (const b of buffers) {
      if (this.free.length >= this.maxFree) return;
      if (b.length === this.bufferBytes) this.free.push(b);
    }
  }
}

const DEFAULT_READ_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_HASH_READ_BYTES = 1024 * 1024;
/** Size of the pooled buffers pass 1 reads a segment into (see {@link ReadBufferPool}). */
export const READ_BUFFER_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const TS_MARK = pattern(',"ts_ns":"');

/**
 * Reads a sealed segment in two passes, so nothing of a segment that does not match its manifest is ever
 * inserted:
 *
 * 1. {@link SegmentReader.verifyFile}: size and sha256 of the whole file against the manifest (a sealed
 *    segment is immutable; this pass costs one sequential read, usually from the page cache).
 * 2. {@link SegmentReader.nextPiece}: batches of whole records, each line checked for shape (the
 *    manifest's producer and topic), strictly increasing seq within the manifest's range; size and record
 *    count checked again at the end, and the last batch's end handed out only after they pass. (Failing
 *    here means the file changed after pass 1, a disk fault, or a writer bug: what was handed out before
 *    is whole records that passed pass 1.)
 *
 * That is the streaming form, for a segment larger than one batch. A segment of at most one batch's
 * bytes (all of them with the WAL's rotation) is read once by {@link SegmentReader.readVerified}, which
 * runs both passes' checks on each read as it arrives and returns the batches only once all passed.
 *
 * Per-record CRCs are not recomputed: the whole-file sha256 already proves every byte is the one sealed.
 * Streaming reads are pulled by the consumer: nothing more is read than the batch asked for, so a slow
 * ClickHouse slows the reader instead of growing memory.
 */
export class SegmentReader {
  private readonly prefix: Pattern;
  private readonly topicMark: Pattern;
  /** The current chunk as a DataView: the line checks compare 4 bytes per load. */
  private view: DataView | undefined;
  private iterator: AsyncIterator<Buffer> | undefined;
  /** The chunk being scanned (with the carried head of a split record in front), and where. */
  private chunk: Buffer | undefined;
  private pos = 0;
  private carry: Buffer | undefined;
  /** The part of a read after a split record's stitched end, scanned next. */
  private rest: Buffer | undefined;
  private totalBytes = 0;
  private rowsSeen = 0;
  private lastSeq = -1;
  private batch: MutableBatch = newBatch(0);
  private batchFull = false;
  private finished = false;
  /** In-memory scanning ({@link readVerified}): the current batch's slices, and the batches so far. */
  private slices: Buffer[] = [];
  private readonly planned: SegmentBatch[] = [];

  constructor(
    private readonly path: string,
    private readonly manifest: SegmentManifest,
    private readonly opts: SegmentReaderOptions,
  ) {
    this.prefix = pattern(`{"producer_id":${JSON.stringify(manifest.producerId)},"seq":`);
    this.topicMark = pattern(`","topic":${JSON.stringify(manifest.topic)},"payload":`);
  }

  /**
   * Pass 1: the whole file's size and sha256 against the manifest. Read into one reused buffer (no stream,
   * no buffer per read), in reads big enough that the per-read cost is small next to hashing them, small
   * enough that one hash call does not hold the event loop (that the other load's stream uses) for long.
   */
  static async verifyFile(
    path: string,
    manifest: SegmentManifest,
    readChunkBytes = DEFAULT_HASH_READ_BYTES,
  ): Promise<void> {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(readChunkBytes);
    let bytes = 0;
    const file = await open(path, 'r');
    try {
      for (;;) {
        const { bytesRead } = await file.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        bytes += bytesRead;
      }
    } finally {
      await file.close();
    }
    checkDigest(manifest, bytes, hash.digest('hex'));
  }

  /**
   * Both passes in one read, for a segment of at most `batchBytes` (the loader's memory bound per load):
   * reads the whole file into pooled buffers and, per read, hashes it and runs every line check on it.
   * Returns only once size, sha256, record count and every record's checks passed: nothing of a segment
   * can be sent before all of it is verified (a foreign record in the last batch keeps the batches before
   * it out too; it costs the same CPU as checking while sending, docs/loader-bench.md), and what is
   * sent is exactly the bytes the hash covered (no second read a disk fault could change). A size or
   * checksum mismatch is reported before a line check's failure (a flipped byte is a `checksum` fault even
   * where it also breaks a record's shape).
   */
  static async readVerified(
    path: string,
    manifest: SegmentManifest,
    pool: ReadBufferPool,
    plan: BatchPlan,
  ): Promise<VerifiedSegment> {
    const hash = createHash('sha256');
    const scanner = new SegmentReader(path, manifest, plan);
    const buffers: Buffer[] = [];
    const chunks: Buffer[] = [];
    let bytes = 0;
    let lineError: unknown;
    const file = await open(path, 'r');
    try {
      for (;;) {
        const buf = pool.take();
        const { bytesRead } = await file.read(buf, 0, buf.length, null);
        if (bytesRead === 0) {
          pool.give([buf]);
          break;
        }
        buffers.push(buf);
        const chunk = buf.subarray(0, bytesRead);
        chunks.push(chunk);
        hash.update(chunk);
        bytes += bytesRead;
        // A file longer than its manifest says fails below anyway; stop reading it into memory.
        if (bytes > manifest.bytes) break;
        if (lineError === undefined) {
          try {
            scanner.feed(chunk);
          } catch (err) {
            lineError = err;
          }
        }
      }
    } finally {
      await file.close();
    }
    try {
      checkDigest(manifest, bytes, hash.digest('hex'));
      if (lineError !== undefined) throw lineError;
      return { chunks, buffers, batches: scanner.finish() };
    } catch (err) {
      pool.give(buffers);
      throw err;
    }
  }

  /**
   * The batches of another plan over a segment {@link readVerified} already holds (its line checks run
   * again: they are what cuts batches). For the rare re-insert of a whole segment after a resume.
   */
  static replan(
    path: string,
    manifest: SegmentManifest,
    verified: VerifiedSegment,
    plan: BatchPlan,
  ): VerifiedSegment {
    const scanner = new SegmentReader(path, manifest, plan);
    for (const chunk of verified.chunks) scanner.feed(chunk);
    return { ...verified, batches: scanner.finish() };
  }

  /** In-memory scanning: checks every complete line of the next read, cutting batches as it goes. */
  private feed(read: Buffer): void {
    this.totalBytes += read.length;
    const carry = this.carry;
    this.carry = undefined;
    if (!carry) {
      this.scanAll(read);
      return;
    }
    // As in readChunk: the split record is stitched as its own small chunk, then the rest of the read.
    const headEnd = read.indexOf(NEWLINE) + 1;
    this.scanAll(Buffer.concat([carry, headEnd > 0 ? read.subarray(0, headEnd) : read]));
    if (headEnd > 0 && headEnd < read.length) this.scanAll(read.subarray(headEnd));
  }

  private scanAll(chunk: Buffer): void {
    this.chunk = chunk;
    this.pos = 0;
    while (this.chunk) {
      const bytes = this.scan(this.chunk);
      if (bytes) this.slices.push(bytes);
      if (this.batchFull) {
        this.batchFull = false;
        this.closeBatch();
      }
    }
  }

  /** In-memory scanning: the end-of-file checks, then every batch. */
  private finish(): SegmentBatch[] {
    this.finished = true;
    this.checkEnd();
    if (this.batch.rows > 0) this.closeBatch();
    return this.planned;
  }

  private closeBatch(): void {
    const batch = this.endBatch().batch;
    this.planned.push(Object.freeze({ ...batch, chunks: Object.freeze(this.slices) }));
    this.slices = [];
  }

  /**
   * Pass 2, streaming: the next piece of verified bytes, the end of the current batch, or the end of the
   * file. Each call reads at most one chunk. A batch's `batch-end` (and the last batch's, only after the
   * end-of-file checks) is the consumer's signal that the bytes handed out since the previous one are a
   * complete, verified batch; an error instead means they must not be committed.
   */
  async nextPiece(): Promise<Piece> {
    for (;;) {
      if (this.batchFull) {
        // A batch that ends where the file ends is its last: the end-of-file checks must pass before its
        // end is handed out, so peek whether the file goes on.
        if (!this.chunk && !this.finished) await this.readChunk();
        this.batchFull = false;
        return this.endBatch();
      }
      if (this.finished) return this.batch.rows > 0 ? this.endBatch() : { kind: 'eof' };
      if (!this.chunk) {
        await this.readChunk();
        continue;
      }
      const bytes = this.scan(this.chunk);
      if (bytes) return { kind: 'bytes', bytes };
    }
  }

  /**
   * Reads the next chunk, or finishes with the end checks. A record split across two reads is stitched
   * as its own small chunk (carried head + the next read up to its newline), scanned before the rest of
   * that read: copying only that record, not the whole read, to put the head in front.
   */
  private async readChunk(): Promise<void> {
    if (this.rest) {
      this.chunk = this.rest;
      this.rest = undefined;
      this.pos = 0;
      return;
    }
    this.iterator ??= (
      createReadStream(this.path, {
        highWaterMark: this.opts.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES,
      }) as AsyncIterable<Buffer>
    )[Symbol.asyncIterator]();
    const next = await this.iterator.next();
    if (next.done) {
      this.finished = true;
      this.checkEnd();
      return;
    }
    const read = next.value;
    this.totalBytes += read.length;
    this.pos = 0;
    const carry = this.carry;
    this.carry = undefined;
    if (!carry) {
      this.chunk = read;
      return;
    }
    const headEnd = read.indexOf(NEWLINE) + 1;
    // No newline in this read: the record goes on; the next scan finds no line and carries it all again.
    this.chunk = Buffer.concat([carry, headEnd > 0 ? read.subarray(0, headEnd) : read]);
    if (headEnd > 0 && headEnd < read.length) this.rest = read.subarray(headEnd);
  }

  /** Pass 2 as whole batches in memory (tests, tools): the last one only after the end-of-file checks. */
  async *batches(): AsyncGenerator<SegmentBatch> {
    let chunks: Buffer[] = [];
    for (;;) {
      const piece = await this.nextPiece();
      if (piece.kind === 'eof') return;
      if (piece.kind === 'bytes') chunks.push(piece.bytes);
      else {
        yield Object.freeze({ ...piece.batch, chunks: Object.freeze(chunks) });
        chunks = [];
      }
    }
  }

  /** Closes the file early (the consumer gave up). */
  async close(): Promise<void> {
    this.finished = true;
    await this.iterator?.return?.();
  }

  /**
   * Verifies complete lines of the chunk from `pos` until the batch is full or the chunk has no complete
   * line left, and returns the slice of them that belongs in the batch. Skipped records (seq ≤
   * skipThroughSeq) are always a prefix of the segment, so the slice is contiguous.
   */
  private scan(chunk: Buffer): Buffer | undefined {
    const { manifest, opts, batch } = this;
    const skipThrough = opts.skipThroughSeq ?? -1;
    let lineStart = this.pos;
    let runStart = -1;
    let view = this.view;
    if (
      view?.buffer !== chunk.buffer ||
      view.byteOffset !== chunk.byteOffset ||
      view.byteLength !== chunk.length
    ) {
      view = this.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, lineStart);
      if (nl < 0) {
        // A record split across two reads: keep its head (a copy, so the chunk can be released).
        if (lineStart < chunk.length) this.carry = Buffer.from(chunk.subarray(lineStart));
        this.chunk = undefined;
        break;
      }
      const seq = this.verifyLine(chunk, view, lineStart, nl, this.rowsSeen);
      if (seq <= this.lastSeq) throw this.corrupt('seq_order', `seq ${seq} after ${this.lastSeq}`);
      if (seq < manifest.firstSeq || seq > manifest.lastSeq) {
        throw this.corrupt('seq_range', `seq ${seq} outside ${manifest.firstSeq}..${manifest.lastSeq}`);
      }
      this.lastSeq = seq;
      this.rowsSeen += 1;
      if (seq > skipThrough) {
        if (runStart < 0) runStart = lineStart;
        if (batch.rows === 0) batch.firstSeq = seq;
        batch.rows += 1;
        batch.lastSeq = seq;
      }
      lineStart = nl + 1;
      const run = runStart >= 0 ? lineStart - runStart : 0;
      if (batch.rows > 0 && (batch.rows >= opts.batchRows || batch.bytes + run >= opts.batchBytes)) {
        this.batchFull = true;
        this.pos = lineStart;
        if (lineStart >= chunk.length) this.chunk = undefined;
        break;
      }
    }
    if (runStart < 0) return undefined;
    batch.bytes += lineStart - runStart;
    return chunk.subarray(runStart, lineStart);
  }

  private endBatch(): { kind: 'batch-end'; batch: BatchSummary } {
    const done = Object.freeze({ ...this.batch });
    this.batch = newBatch(done.index + 1);
    return { kind: 'batch-end', batch: done };
  }

  private checkEnd(): void {
    const manifest = this.manifest;
    if (this.carry) throw this.corrupt('torn_tail', `${this.carry.length} bytes after the last newline`);
    if (this.totalBytes !== manifest.bytes) {
      throw this.corrupt('size', `${this.totalBytes} bytes, manifest says ${manifest.bytes}`);
    }
    if (this.rowsSeen !== manifest.recordCount) {
      throw this.corrupt('record_count', `${this.rowsSeen} records, manifest says ${manifest.recordCount}`);
    }
  }

  /** Checks one line [start, end) (end = its newline) and returns its seq. */
  private verifyLine(buf: Buffer, view: DataView, start: number, end: number, index: number): number {
    // Hot path (once per record): the constant parts compared 4 bytes per load (DataView reads compile to
    // plain loads), the seq parsed in the same loop that finds its end; no allocation.
    const prefix = this.prefix;
    if (end - start < prefix.length + 16 || !matchesAt(buf, view, start, end, prefix)) {
      throw this.lineError(index, start, 'not a record of this producer');
    }
    if (buf[end - 1] !== CLOSE_BRACE) throw this.lineError(index, start, 'not a closed object');
    const seqStart = start + prefix.length;
    let pos = seqStart;
    let seq = 0;
    for (; pos < end; pos += 1) {
      const d = (buf[pos] as number) - 48;
      if (d < 0 || d > 9) break;
      seq = seq * 10 + d;
    }
    // Past 15 digits the running product may round: the exact (and slower) parse decides.
    if (pos === seqStart || pos - seqStart > 15) seq = parseDigits(buf, seqStart, pos);
    if (seq < 0 || !matchesAt(buf, view, pos, end, TS_MARK))
      throw this.lineError(index, start, 'bad seq or ts_ns');
    pos += TS_MARK.length;
    const tsStart = pos;
    while (pos < end && buf[pos] !== QUOTE) pos += 1;
    if (pos === tsStart || pos - tsStart > 20) throw this.lineError(index, start, 'bad ts_ns');
    if (!matchesAt(buf, view, pos, end, this.topicMark)) {
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

function checkDigest(manifest: SegmentManifest, bytes: number, digest: string): void {
  if (bytes !== manifest.bytes) {
    throw segmentCorrupt(manifest.segmentId, 'size', `${bytes} bytes, manifest says ${manifest.bytes}`);
  }
  if (digest !== manifest.sha256) {
    throw segmentCorrupt(
      manifest.segmentId,
      'checksum',
      `sha256 ${digest}, manifest says ${manifest.sha256}`,
    );
  }
}

interface MutableBatch {
  index: number;
  rows: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

function newBatch(index: number): MutableBatch {
  return { index, rows: 0, bytes: 0, firstSeq: -1, lastSeq: -1 };
}

/** A constant byte string, also as little-endian 32-bit words for {@link matchesAt}. */
interface Pattern {
  readonly bytes: Buffer;
  readonly words: Uint32Array;
  readonly length: number;
}

function pattern(text: string): Pattern {
  const bytes = Buffer.from(text);
  const words = new Uint32Array(bytes.length >> 2);
  for (let i = 0; i < words.length; i += 1) words[i] = bytes.readUInt32LE(i * 4);
  return { bytes, words, length: bytes.length };
}

/** Whether `p` is at `pos`, wholly before `end`. */
function matchesAt(buf: Buffer, view: DataView, pos: number, end: number, p: Pattern): boolean {
  if (pos + p.length > end) return false;
  const words = p.words;
  for (let i = 0; i < words.length; i += 1) {
    if (view.getUint32(pos + i * 4, true) !== words[i]) return false;
  }
  const bytes = p.bytes;
  for (let i = words.length * 4; i < bytes.length; i += 1) if (buf[pos + i] !== bytes[i]) return false;
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
