import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SegmentReader } from '../../loaders/segment-reader.js';
import { OPEN_SUFFIX, SEALED_SUFFIX, type SegmentManifest, segmentId } from '../../src/wal/manifest.js';
import { encodeRecord } from '../../src/wal/record.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { tempDir } from '../harness/process.js';
import { allRecords, deps, logSink, metricValue, readSegments, walConfig } from './wal-fixtures.js';

const P = 'gw-1';

function line(seq: number, topic: string): Buffer {
  return encodeRecord({
    producerId: P,
    seq,
    tsNs: 1_764_000_000_000_000_000n + BigInt(seq),
    topic,
    payload: `{"n":${seq}}`,
  });
}

/** Writes a segment file by hand, as a crashed writer would have left it. */
function writeSegment(
  root: string,
  topic: string,
  seqs: number[],
  suffix = OPEN_SUFFIX,
  tail: Buffer = Buffer.alloc(0),
): string {
  const dir = join(root, P, topic);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, segmentId(P, topic, seqs[0] as number) + suffix);
  writeFileSync(file, Buffer.concat([...seqs.map((s) => line(s, topic)), tail]));
  return file;
}

async function reopen(root: string) {
  const sink = logSink();
  const d = deps(P, sink);
  const writer = await WalWriter.open(walConfig(root), d);
  return { writer, sink, registry: d.registry };
}

describe('WAL recovery on open', () => {
  it('truncates a torn tail, counts and logs its bytes, and seals the rest', async () => {
    const root = tempDir('wal-rec');
    const torn = line(4, 'gateway.fill').subarray(0, 37);
    writeSegment(root, 'gateway.fill', [1, 2, 3], OPEN_SUFFIX, torn);
    const { writer, sink, registry } = await reopen(root);
    expect(await metricValue(registry, 'hft_wal_torn_bytes_total')).toBe(37);
    expect(sink.lines.find((l) => l.torn_bytes === 37)).toMatchObject({
      level: 'warn',
      topic: 'gateway.fill',
    });
    const segments = readSegments(root, P);
    expect(segments).toHaveLength(1);
    expect(segments[0]).toMatchObject({
      sealed: true,
      manifest: { recordCount: 3, firstSeq: 1, lastSeq: 3 },
    });
    expect(writer.record('gateway.fill', {})).toBe(4);
    await writer.close();
  });

  it('quarantines a segment with a corrupt record in the middle, logs GW_ERR_WAL_CORRUPT and never reuses its numbers', async () => {
    const root = tempDir('wal-rec');
    const file = writeSegment(root, 'gateway.decision', [1, 2, 3, 4]);
    const bytes = readFileSync(file);
    const second = line(1, 'gateway.decision').length + 30;
    bytes[second] = bytes[second] === 0x41 ? 0x42 : 0x41; // flip a byte inside record 2
    writeFileSync(file, bytes);
    const { writer, sink, registry } = await reopen(root);
    const quarantined = join(
      root,
      P,
      'gateway.decision',
      'quarantine',
      `${segmentId(P, 'gateway.decision', 1)}${OPEN_SUFFIX}`,
    );
    expect(existsSync(quarantined)).toBe(true);
    expect(readFileSync(quarantined)).toEqual(bytes);
    expect(existsSync(file)).toBe(false);
    expect(sink.lines.find((l) => l.code === 'GW_ERR_WAL_CORRUPT')).toMatchObject({
      level: 'error',
      file: quarantined,
    });
    expect(
      await metricValue(registry, 'hft_wal_quarantined_segments_total', { topic: 'gateway.decision' }),
    ).toBe(1);
    expect(writer.record('gateway.decision', {})).toBe(5);
    await writer.close();
  });

  it('keeps complete records above a sequence gap left by a crash between per-topic writes, and never reuses the missing numbers', async () => {
    const root = tempDir('wal-rec');
    // One group commit wrote topic A's part (3, 5) but the process died before topic B's part (4, 6).
    writeSegment(root, 'gateway.intent', [1, 3, 5]);
    writeSegment(root, 'gateway.ack', [2]);
    const { writer } = await reopen(root);
    expect(allRecords(root, P).map((r) => r.seq)).toEqual([1, 2, 3, 5]);
    expect(readSegments(root, P).every((s) => s.sealed && s.manifest)).toBe(true);
    expect(writer.record('gateway.ack', {})).toBe(6);
    await writer.close();
    expect(allRecords(root, P).map((r) => r.seq)).toEqual([1, 2, 3, 5, 6]);
    // The loaders' reader accepts every segment as sealed, gap and all (it checks order and range).
    const loaded: { first: number; last: number; rows: number }[] = [];
    for (const s of readSegments(root, P)) {
      const manifest = s.manifest as SegmentManifest;
      await SegmentReader.verifyFile(s.file, manifest);
      const reader = new SegmentReader(s.file, manifest, { batchRows: 100, batchBytes: 1 << 20 });
      for await (const b of reader.batches())
        loaded.push({ first: b.firstSeq, last: b.lastSeq, rows: b.rows });
    }
    expect(loaded.sort((x, y) => x.first - y.first)).toEqual([
      { first: 1, last: 5, rows: 3 },
      { first: 2, last: 2, rows: 1 },
      { first: 6, last: 6, rows: 1 },
    ]);
  });

  it('resumes above the high-water mark a crashed writer reserved, not above the records it left', async () => {
    const root = tempDir('wal-rec');
    // A writer that reserved through 1000 handed out numbers up to some point, wrote 1..3, and died.
    writeSegment(root, 'gateway.fill', [1, 2, 3]);
    writeFileSync(
      join(root, P, 'high-water.json'),
      `${JSON.stringify({ producerId: P, reservedThrough: 1000 })}\n`,
    );
    const { writer } = await reopen(root);
    expect(writer.lastSeq()).toBe(1000);
    expect(writer.record('gateway.fill', {})).toBe(1001);
    await writer.close();
    expect(allRecords(root, P).map((r) => r.seq)).toEqual([1, 2, 3, 1001]);
  });

  it('reads a high-water file written before reservations existed (lastSeq) as the mark', async () => {
    const root = tempDir('wal-rec');
    mkdirSync(join(root, P), { recursive: true });
    writeFileSync(join(root, P, 'high-water.json'), `${JSON.stringify({ producerId: P, lastSeq: 41 })}\n`);
    const { writer } = await reopen(root);
    expect(writer.record('ha.role', {})).toBe(42);
    await writer.close();
  });

  it('completes an interrupted seal: a .seg without its manifest gets one', async () => {
    const root = tempDir('wal-rec');
    writeSegment(root, 'ha.role', [1, 2], SEALED_SUFFIX);
    const { writer } = await reopen(root);
    expect(readSegments(root, P)[0]).toMatchObject({
      sealed: true,
      manifest: { recordCount: 2, lastSeq: 2 },
    });
    await writer.close();
  });

  it('treats a trailing garbage line (power loss) as a torn tail, not corruption', async () => {
    const root = tempDir('wal-rec');
    const file = writeSegment(root, 'gateway.fill', [1, 2]);
    appendFileSync(file, Buffer.from('\0\0\0\0\n\0\0'));
    const { writer, registry } = await reopen(root);
    expect(await metricValue(registry, 'hft_wal_torn_bytes_total')).toBe(7);
    expect(await metricValue(registry, 'hft_wal_quarantined_segments_total')).toBe(0);
    await writer.close();
  });

  it('deletes an unsealed segment left with no complete record', async () => {
    const root = tempDir('wal-rec');
    const file = writeSegment(root, 'gateway.fill', [1]);
    writeFileSync(file, line(1, 'gateway.fill').subarray(0, 10));
    const { writer } = await reopen(root);
    expect(readdirSync(join(root, P, 'gateway.fill'))).toEqual([]);
    expect(writer.record('gateway.fill', {})).toBe(1);
    await writer.close();
  });
});
