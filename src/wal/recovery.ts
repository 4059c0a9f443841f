import { mkdir, open, readFile, readdir, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { TMP_SUFFIX, fsyncDir } from './fs-durable.js';
import { HIGH_WATER_FILE, readHighWater, writeHighWater } from './high-water.js';
import { MANIFEST_SUFFIX, OPEN_SUFFIX, SEALED_SUFFIX, type SegmentManifest } from './manifest.js';
import { type ScannedRecord, type SegmentScan, scanSegment, sha256Hex } from './segment-scan.js';
import { sealSegment } from './segment-file.js';

export const QUARANTINE_DIR = 'quarantine';

/** What recovery found and did; the writer turns it into metrics. */
export interface RecoveryReport {
  /** The first sequence number the writer may hand out. */
  nextSeq: number;
  sealed: SegmentManifest[];
  quarantined: { topic: string; file: string; detail: string }[];
  tornBytes: { topic: string; bytes: number }[];
}

interface PendingSegment {
  readonly topic: string;
  readonly dir: string;
  readonly id: string;
  readonly suffix: string;
  readonly buf: Buffer;
  readonly scan: SegmentScan;
}

/**
 * Brings a producer's WAL directory to a clean state before the writer appends again:
 *
 * 1. leftover `*.tmp` files (an interrupted manifest write) are removed;
 * 2. every unsealed segment (`.open`, or `.seg` without a manifest: an interrupted seal) is scanned; a
 *    torn tail is truncated and reported; corruption in the middle moves the file to `quarantine/`;
 * 3. every complete record is kept, under its own number, and sealed. A crash between the per-topic
 *    writes of one group commit can leave a later number on disk without an earlier one: that earlier
 *    record was never acknowledged as durable, and its number stays a gap (never handed out again);
 * 4. the high-water mark is raised over everything seen (sealed, recovered, quarantined) and persisted;
 *    the writer resumes above it, and above the block the crashed process had reserved.
 */
export async function recoverProducer(
  root: string,
  producerId: string,
  topics: readonly string[],
  logger: Logger,
  nowNs: () => string,
): Promise<RecoveryReport> {
  const producerDir = join(root, producerId);
  await mkdir(producerDir, { recursive: true });
  await fsyncDir(root);
  const report: RecoveryReport = { nextSeq: 1, sealed: [], quarantined: [], tornBytes: [] };
  let persisted = await readHighWater(producerDir);
  let seenMax = persisted;
  const pending: PendingSegment[] = [];
  // An interrupted high-water write.
  await rm(join(producerDir, HIGH_WATER_FILE + TMP_SUFFIX), { force: true });

  for (const topic of topics) {
    const dir = join(producerDir, topic);
    await mkdir(dir, { recursive: true });
    const names = await readdir(dir);
    const manifests = new Set(names.filter((n) => n.endsWith(MANIFEST_SUFFIX)));
    for (const name of names.filter((n) => n.endsWith(TMP_SUFFIX)))
      await rm(join(dir, name), { force: true });
    for (const name of manifests) {
      const manifest = JSON.parse(await readFile(join(dir, name), 'utf8')) as SegmentManifest;
      seenMax = Math.max(seenMax, manifest.lastSeq);
    }
    const unsealed = names
      .filter(
        (n) =>
          n.endsWith(OPEN_SUFFIX) ||
          (n.endsWith(SEALED_SUFFIX) && !manifests.has(n.slice(0, -SEALED_SUFFIX.length) + MANIFEST_SUFFIX)),
      )
      .sort();
    for (const name of unsealed) {
      const suffix = name.endsWith(OPEN_SUFFIX) ? OPEN_SUFFIX : SEALED_SUFFIX;
      const buf = await readFile(join(dir, name));
      const scan = scanSegment(buf);
      seenMax = Math.max(seenMax, scan.maxSeq);
      if (scan.corrupt) {
        // Once quarantined the file is never scanned again: its numbers must be in the mark first.
        if (seenMax > persisted) {
          await writeHighWater(producerDir, producerId, seenMax);
          persisted = seenMax;
        }
        const quarantined = await quarantine(dir, name);
        report.quarantined.push({ topic, file: quarantined, detail: scan.corrupt.detail });
        logger.error(
          {
            code: 'GW_ERR_WAL_CORRUPT',
            topic,
            file: quarantined,
            offset: scan.corrupt.offset,
            detail: scan.corrupt.detail,
          },
          'WAL segment has a corrupt record in the middle; moved to quarantine, not loaded',
        );
        continue;
      }
      pending.push({ topic, dir, id: name.slice(0, -suffix.length), suffix, buf, scan });
    }
  }

  await fsyncDir(producerDir); // the topic directories just created

  for (const p of pending) {
    const records = p.scan.records;
    const keepBytes = p.scan.validBytes;
    const path = join(p.dir, p.id + p.suffix);
    if (p.scan.tornBytes > 0) {
      report.tornBytes.push({ topic: p.topic, bytes: p.scan.tornBytes });
      logger.warn(
        { topic: p.topic, file: path, torn_bytes: p.scan.tornBytes, valid_bytes: keepBytes },
        'WAL segment had a torn tail (interrupted append); truncated',
      );
    }
    if (keepBytes < p.buf.length) await truncateDurably(path, keepBytes);
    if (records.length === 0) {
      await rm(path, { force: true });
      await fsyncDir(p.dir);
      continue;
    }
    const first = records[0] as ScannedRecord;
    const last = records.at(-1) as ScannedRecord;
    const manifest = await sealSegment(
      p.dir,
      producerId,
      p.topic,
      {
        recordCount: records.length,
        firstSeq: first.seq,
        lastSeq: last.seq,
        bytes: keepBytes,
        firstTsNs: first.tsNs.toString(),
        lastTsNs: last.tsNs.toString(),
      },
      sha256Hex(p.buf.subarray(0, keepBytes)),
      { from: p.suffix, sealedTsNs: nowNs() },
    );
    report.sealed.push(manifest);
  }

  if (seenMax > persisted) await writeHighWater(producerDir, producerId, seenMax);
  report.nextSeq = seenMax + 1;
  return report;
}

async function truncateDurably(path: string, length: number): Promise<void> {
  await truncate(path, length);
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function quarantine(dir: string, name: string): Promise<string> {
  const qdir = join(dir, QUARANTINE_DIR);
  await mkdir(qdir, { recursive: true });
  const target = join(qdir, name);
  await rename(join(dir, name), target);
  await fsyncDir(qdir);
  await fsyncDir(dir);
  return target;
}
