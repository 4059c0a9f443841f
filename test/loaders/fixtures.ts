import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecord } from '../../src/wal/record.js';
import {
  MANIFEST_SUFFIX,
  MANIFEST_VERSION,
  SEALED_SUFFIX,
  type SegmentManifest,
  segmentId as segmentIdOf,
} from '../../src/wal/manifest.js';

/**
 * A minimal sealed-segment writer for loader tests: records encoded with the real codec (encodeRecord),
 * the manifest in the real format. Not the WAL writer (no group commit, fsync or rotation): it only lays
 * out what a sealed segment looks like on disk.
 */
export interface FixtureSegment {
  readonly manifest: SegmentManifest;
  readonly manifestPath: string;
  readonly segmentPath: string;
  readonly seqs: readonly number[];
}

export interface FixtureOptions {
  readonly producerId?: string;
  readonly topic?: string;
  readonly firstSeq: number;
  readonly count: number;
  /** Gap between consecutive seqs (a topic's segment holds every n-th seq of its producer). */
  readonly seqStep?: number;
  readonly payloadBytes?: number;
  readonly baseTsNs?: bigint;
}

export function writeSegment(root: string, opts: FixtureOptions): FixtureSegment {
  const producerId = opts.producerId ?? 'gw-1';
  const topic = opts.topic ?? 'gateway.decision';
  const step = opts.seqStep ?? 1;
  const baseTs = opts.baseTsNs ?? BigInt(Date.now()) * 1_000_000n;
  const filler = 'x'.repeat(Math.max(0, (opts.payloadBytes ?? 48) - 32));
  const seqs: number[] = [];
  const lines: Buffer[] = [];
  for (let i = 0; i < opts.count; i += 1) {
    const seq = opts.firstSeq + i * step;
    seqs.push(seq);
    const payload = JSON.stringify({ i, seq, f: filler });
    lines.push(encodeRecord({ producerId, seq, tsNs: baseTs + BigInt(seq), topic, payload }));
  }
  const body = Buffer.concat(lines);
  const id = segmentIdOf(producerId, topic, opts.firstSeq);
  const dir = join(root, producerId, topic);
  mkdirSync(dir, { recursive: true });
  const manifest: SegmentManifest = {
    version: MANIFEST_VERSION,
    segmentId: id,
    producerId,
    topic,
    recordCount: opts.count,
    firstSeq: opts.firstSeq,
    lastSeq: seqs[seqs.length - 1] as number,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    firstTsNs: String(baseTs + BigInt(opts.firstSeq)),
    lastTsNs: String(baseTs + BigInt(seqs[seqs.length - 1] as number)),
    sealedTsNs: String(BigInt(Date.now()) * 1_000_000n),
  };
  const segmentPath = join(dir, `${id}${SEALED_SUFFIX}`);
  const manifestPath = join(dir, `${id}${MANIFEST_SUFFIX}`);
  writeFileSync(segmentPath, body);
  // Like the WAL writer: the manifest appears atomically (temp file + rename), after the segment.
  writeFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest));
  renameSync(`${manifestPath}.tmp`, manifestPath);
  return { manifest, manifestPath, segmentPath, seqs };
}

/** Many segments of one producer spread over topics, seqs interleaved as one producer would number them. */
export function writeBacklog(
  root: string,
  opts: { producerId?: string; segments: number; recordsPerSegment: number; topics?: readonly string[] },
): FixtureSegment[] {
  const topics = opts.topics ?? ['gateway.decision', 'gateway.intent'];
  const out: FixtureSegment[] = [];
  for (let s = 0; s < opts.segments; s += 1) {
    const topicIndex = s % topics.length;
    const round = Math.floor(s / topics.length);
    // Each round of segments covers one block of seqs, topics interleaved within it (seq % topics).
    const firstSeq = 1 + round * opts.recordsPerSegment * topics.length + topicIndex;
    out.push(
      writeSegment(root, {
        producerId: opts.producerId ?? 'gw-1',
        topic: topics[topicIndex] as string,
        firstSeq,
        count: opts.recordsPerSegment,
        seqStep: topics.length,
      }),
    );
  }
  return out;
}
