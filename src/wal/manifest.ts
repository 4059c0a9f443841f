/**
 * Sealed-segment manifest: written next to the segment as `<segmentId>.manifest.json` when the segment is
 * sealed, and the loaders' source of truth about what the segment must contain.
 *
 * Directory layout under `wal.dir`:
 *   <producerId>/<topic>/<segmentId>.open            the one segment being appended to (never loaded)
 *   <producerId>/<topic>/<segmentId>.seg             sealed, immutable
 *   <producerId>/<topic>/<segmentId>.manifest.json   its manifest; written (and the dir fsynced) after the
 *                                                    rename, so a manifest's presence means "sealed"
 *   <producerId>/<topic>/quarantine/                 segments with a corrupt record in the middle
 *
 * segmentId = `<producerId>.<topic>.<firstSeq zero-padded to 16 digits>`; it sorts in sequence order and is
 * the BullMQ job id of the segment's load job.
 */
export const MANIFEST_VERSION = 1;

export interface SegmentManifest {
  readonly version: 1;
  readonly segmentId: string;
  readonly producerId: string;
  readonly topic: string;
  readonly recordCount: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly bytes: number;
  /** sha256 hex of the whole segment file. */
  readonly sha256: string;
  /** Wall-clock ns (decimal) of the first and last record, and of sealing. */
  readonly firstTsNs: string;
  readonly lastTsNs: string;
  readonly sealedTsNs: string;
}

export function segmentId(producerId: string, topic: string, firstSeq: number): string {
  return `${producerId}.${topic}.${String(firstSeq).padStart(16, '0')}`;
}

export const SEALED_SUFFIX = '.seg';
export const OPEN_SUFFIX = '.open';
export const MANIFEST_SUFFIX = '.manifest.json';
