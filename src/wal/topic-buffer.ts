import { RecordClock } from './record-clock.js';

/** A run of encoded records of one topic, taken from the buffer for one group commit. */
export interface PendingBatch {
  /** Bytes to write, in order. Shrinks as writes land (see SegmentFile.append). */
  readonly views: Buffer[];
  /** Chunks whose last bytes are in this batch: reusable once it is written. */
  readonly retired: Buffer[];
  readonly bytes: number;
  readonly count: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstTsNs: string;
  readonly lastTsNs: string;
}

/** Source of reusable chunk buffers, shared by all topics of a writer. */
export interface ChunkPool {
  readonly chunkBytes: number;
  acquire(): Buffer;
  release(chunk: Buffer): void;
}

export class BoundedChunkPool implements ChunkPool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly chunkBytes: number,
    private readonly maxFree: number,
  ) {}
  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
  }
  release(chunk: Buffer): void {
    if (chunk.length === this.chunkBytes && this.free.length < this.maxFree) this.free.push(chunk);
  }
}

/**
 * Encoded records of one topic waiting for the next group commit. Records are encoded straight into
 * pooled chunks (no per-record allocation); `take()` hands out views of what was written since the last
 * take, and a chunk goes back to the pool only after the batch holding its last bytes is written.
 */
export class TopicBuffer {
  private chunk: Buffer | null = null;
  private used = 0;
  private taken = 0;
  private views: Buffer[] = [];
  private retired: Buffer[] = [];
  bytes = 0;
  count = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  // Timestamps stay numbers per record; they become strings once per batch, in take().
  private firstSec = 0;
  private firstNsec = 0;
  private lastSec = 0;
  private lastNsec = 0;

  constructor(private readonly pool: ChunkPool) {}

  /** A buffer and offset with at least `maxBytes` free for the next record. */
  reserve(maxBytes: number): Buffer {
    if (this.chunk !== null && this.chunk.length - this.used >= maxBytes) return this.chunk;
    this.retireChunk();
    this.chunk = maxBytes > this.pool.chunkBytes ? Buffer.allocUnsafeSlow(maxBytes) : this.pool.acquire();
    this.used = 0;
    this.taken = 0;
    return this.chunk;
  }

  get offset(): number {
    return this.used;
  }

  /** Accounts a record of `written` bytes just encoded at `offset` of the reserved chunk. */
  commit(written: number, seq: number, sec: number, nsec: number): void {
    this.used += written;
    this.bytes += written;
    if (this.count === 0) {
      this.firstSeq = seq;
      this.firstSec = sec;
      this.firstNsec = nsec;
    }
    this.count++;
    this.lastSeq = seq;
    this.lastSec = sec;
    this.lastNsec = nsec;
  }

  take(): PendingBatch | null {
    if (this.count === 0) return null;
    if (this.chunk !== null && this.used > this.taken) {
      this.views.push(this.chunk.subarray(this.taken, this.used));
      this.taken = this.used;
    }
    const batch: PendingBatch = {
      views: this.views,
      retired: this.retired,
      bytes: this.bytes,
      count: this.count,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      firstTsNs: RecordClock.format(this.firstSec, this.firstNsec),
      lastTsNs: RecordClock.format(this.lastSec, this.lastNsec),
    };
    this.views = [];
    this.retired = [];
    this.bytes = 0;
    this.count = 0;
    return batch;
  }

  private retireChunk(): void {
    if (this.chunk === null) return;
    if (this.used > this.taken) this.views.push(this.chunk.subarray(this.taken, this.used));
    this.retired.push(this.chunk);
    this.chunk = null;
  }
}
