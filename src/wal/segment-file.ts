import { type Hash, createHash } from 'node:crypto';
import { type FileHandle, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './fs-durable.js';
import { MANIFEST_SUFFIX, OPEN_SUFFIX, SEALED_SUFFIX, type SegmentManifest, segmentId } from './manifest.js';

/** What a segment holds, accumulated as batches land in it. */
export interface SegmentContents {
  recordCount: number;
  firstSeq: number;
  lastSeq: number;
  bytes: number;
  firstTsNs: string;
  lastTsNs: string;
}

/** Writes iovecs in groups the kernel accepts (IOV_MAX is 1024 on Linux). */
const IOV_GROUP = 1024;

/**
 * The one `.open` segment of a (producer, topic): append-only, hashed as it is written, sealed once.
 * Not safe for concurrent calls; the writer's flush loop is its only user.
 */
export class SegmentFile {
  readonly id: string;
  readonly contents: SegmentContents;
  private readonly hash: Hash = createHash('sha256');
  private dirty = false;
  private handleClosed = false;
  private digest: string | undefined;

  private constructor(
    private readonly dir: string,
    private readonly handle: FileHandle,
    readonly producerId: string,
    readonly topic: string,
    firstSeq: number,
    firstTsNs: string,
    /** Monotonic ms at creation, for rotation by age. */
    readonly openedAtMs: number,
  ) {
    this.id = segmentId(producerId, topic, firstSeq);
    this.contents = { recordCount: 0, firstSeq, lastSeq: firstSeq, bytes: 0, firstTsNs, lastTsNs: firstTsNs };
  }

  /** Creates the `.open` file and fsyncs the directory so the new entry survives a power failure. */
  static async create(
    dir: string,
    producerId: string,
    topic: string,
    firstSeq: number,
    firstTsNs: string,
    nowMs: number,
  ): Promise<SegmentFile> {
    const path = join(dir, segmentId(producerId, topic, firstSeq) + OPEN_SUFFIX);
    const handle = await openNew(path);
    try {
      await fsyncDir(dir);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    return new SegmentFile(dir, handle, producerId, topic, firstSeq, firstTsNs, nowMs);
  }

  /**
   * Appends `views` completely (short writes are continued). On a failure the views still hold exactly
   * the bytes not yet written — the caller retries with them — and the error is rethrown.
   */
  async append(views: Buffer[]): Promise<void> {
    while (views.length > 0) {
      const group = views.length > IOV_GROUP ? views.slice(0, IOV_GROUP) : views;
      let { bytesWritten } = await this.handle.writev(group);
      this.contents.bytes += bytesWritten;
      this.dirty = true;
      while (bytesWritten > 0) {
        const first = views[0] as Buffer;
        if (bytesWritten >= first.length) {
          this.hash.update(first);
          bytesWritten -= first.length;
          views.shift();
        } else {
          this.hash.update(first.subarray(0, bytesWritten));
          views[0] = first.subarray(bytesWritten);
          bytesWritten = 0;
        }
      }
    }
  }

  /** Adds a fully written batch's records to the contents (after `append` succeeded for all of them). */
  addRecords(count: number, lastSeq: number, lastTsNs: string): void {
    this.contents.recordCount += count;
    this.contents.lastSeq = lastSeq;
    this.contents.lastTsNs = lastTsNs;
  }

  /** fdatasync if anything was written since the last one. */
  async datasync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.handle.datasync();
  }

  /** fsync, close, rename to `.seg`, write the manifest, fsync the directory. */
  /**
   * Safe to call again after a failure (ENOSPC on the manifest, say): every step is idempotent, so the
   * writer retries a failed seal at its next commit.
   */
  async seal(sealedTsNs: string): Promise<SegmentManifest> {
    if (!this.handleClosed) {
      await this.handle.sync();
      await this.handle.close();
      this.handleClosed = true;
    }
    this.digest ??= this.hash.digest('hex');
    return sealSegment(this.dir, this.producerId, this.topic, this.contents, this.digest, {
      from: OPEN_SUFFIX,
      sealedTsNs,
    });
  }

  /** Closes without sealing (shutdown after a write failure); recovery seals it on the next open. */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * The sealing protocol, shared by the writer and recovery: rename `<id><from>` → `<id>.seg` (a no-op when
 * it is already `.seg`), replace `<id>.manifest.json` atomically, fsync the directory once for both.
 * The segment itself must already be fsynced.
 */
export async function sealSegment(
  dir: string,
  producerId: string,
  topic: string,
  contents: SegmentContents,
  sha256: string,
  opts: { from: string; sealedTsNs: string },
): Promise<SegmentManifest> {
  const id = segmentId(producerId, topic, contents.firstSeq);
  if (opts.from !== SEALED_SUFFIX) {
    try {
      await rename(join(dir, id + opts.from), join(dir, id + SEALED_SUFFIX));
    } catch (err) {
      // Already renamed by an earlier attempt whose manifest write failed.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !(await exists(join(dir, id + SEALED_SUFFIX))))
        throw err;
    }
  }
  const manifest: SegmentManifest = {
    version: 1,
    segmentId: id,
    producerId,
    topic,
    recordCount: contents.recordCount,
    firstSeq: contents.firstSeq,
    lastSeq: contents.lastSeq,
    bytes: contents.bytes,
    sha256,
    firstTsNs: contents.firstTsNs,
    lastTsNs: contents.lastTsNs,
    sealedTsNs: opts.sealedTsNs,
  };
  await writeFileAtomic(join(dir, id + MANIFEST_SUFFIX), `${JSON.stringify(manifest)}\n`);
  await fsyncDir(dir);
  return manifest;
}

/**
 * Creates a segment file that must not exist ('wx': segment ids are never reused). The one tolerated
 * leftover is an empty file from an earlier attempt of this same create that failed after the open.
 */
async function openNew(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || (await stat(path)).size !== 0) throw err;
    return open(path, 'a');
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
