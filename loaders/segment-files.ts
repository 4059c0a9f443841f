import { mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  MANIFEST_SUFFIX,
  MANIFEST_VERSION,
  SEALED_SUFFIX,
  type SegmentManifest,
} from '../src/wal/manifest.js';
import type { LoaderConfig } from './config.js';
import { segmentCorrupt } from './segment-reader.js';

export const ARCHIVE_DIR = 'archive';

/** The two files of a sealed segment, located from its manifest's path. */
export interface SegmentFiles {
  readonly segmentId: string;
  readonly dir: string;
  readonly manifestPath: string;
  readonly segmentPath: string;
}

export function segmentFiles(manifestPath: string): SegmentFiles {
  const name = basename(manifestPath);
  if (!name.endsWith(MANIFEST_SUFFIX)) throw new Error(`not a manifest path: ${manifestPath}`);
  const segmentId = name.slice(0, -MANIFEST_SUFFIX.length);
  const dir = dirname(manifestPath);
  return { segmentId, dir, manifestPath, segmentPath: join(dir, `${segmentId}${SEALED_SUFFIX}`) };
}

/**
 * Reads and checks a manifest. Null when it is gone (archived or deleted by an earlier run); a
 * GW_ERR_SEGMENT_CHECKSUM error with reason `manifest_invalid` when it is not a valid v1 manifest of the
 * segment its file name says.
 */
export async function readManifest(files: SegmentFiles): Promise<SegmentManifest | null> {
  let text: string;
  try {
    text = await readFile(files.manifestPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const invalid = (detail: string) => segmentCorrupt(files.segmentId, 'manifest_invalid', detail);
  let m: SegmentManifest;
  try {
    m = JSON.parse(text) as SegmentManifest;
  } catch {
    throw invalid('not JSON');
  }
  const isSeq = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (m?.version !== MANIFEST_VERSION) throw invalid(`version ${String(m?.version)}`);
  if (m.segmentId !== files.segmentId) throw invalid(`segmentId ${m.segmentId} in ${files.segmentId}`);
  if (typeof m.producerId !== 'string' || typeof m.topic !== 'string') throw invalid('producer/topic');
  if (!isSeq(m.firstSeq) || !isSeq(m.lastSeq) || m.lastSeq < m.firstSeq) throw invalid('seq range');
  if (!isSeq(m.recordCount) || m.recordCount < 1 || !isSeq(m.bytes)) throw invalid('counts');
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) throw invalid('sha256');
  if (!/^\d+$/.test(String(m.sealedTsNs))) throw invalid('sealedTsNs');
  return m;
}

/**
 * Applies the retention policy to a LOADED segment: `archive` moves both files to `archive/` beside
 * them, `delete` removes them. Segment first, manifest last, so a crash in between leaves the manifest
 * (the scheduler still sees the segment, its state says LOADED, and the next run finishes the job).
 * Idempotent: files already moved or gone are skipped.
 */
export async function applyRetention(files: SegmentFiles, policy: LoaderConfig['retention']): Promise<void> {
  if (policy === 'archive') {
    const archive = join(files.dir, ARCHIVE_DIR);
    await mkdir(archive, { recursive: true });
    await ignoreMissing(rename(files.segmentPath, join(archive, basename(files.segmentPath))));
    await ignoreMissing(rename(files.manifestPath, join(archive, basename(files.manifestPath))));
  } else {
    await ignoreMissing(unlink(files.segmentPath));
    await ignoreMissing(unlink(files.manifestPath));
  }
}

async function ignoreMissing(op: Promise<void>): Promise<void> {
  try {
    await op;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
