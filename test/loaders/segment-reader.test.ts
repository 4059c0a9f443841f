import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ReadBufferPool,
  SegmentReader,
  type SegmentBatch,
  quarantineReasonOf,
} from '../../loaders/segment-reader.js';
import { encodeRecord } from '../../src/wal/record.js';
import { tempDir } from '../harness/process.js';
import { type FixtureSegment, writeSegment } from './fixtures.js';

async function readAll(
  segment: FixtureSegment,
  opts: Partial<ConstructorParameters<typeof SegmentReader>[2]> = {},
) {
  const reader = new SegmentReader(segment.segmentPath, segment.manifest, {
    batchRows: 100,
    batchBytes: 1 << 20,
    readChunkBytes: 4_096, // small reads: records straddle chunk boundaries all the time
    ...opts,
  });
  const batches: SegmentBatch[] = [];
  for await (const batch of reader.batches()) batches.push(batch);
  return batches;
}

async function reasonOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return quarantineReasonOf(err) ?? `unexpected: ${String(err)}`;
  }
}

describe('SegmentReader', () => {
  it('yields batches whose bytes, concatenated, are the file itself (never re-encoded)', async () => {
    const segment = writeSegment(tempDir('reader'), { firstSeq: 7, count: 1_050, seqStep: 3 });
    const batches = await readAll(segment);
    expect(batches.map((b) => b.rows)).toEqual([...Array(10).fill(100), 50]);
    expect(Buffer.concat(batches.flatMap((b) => b.chunks))).toEqual(readFileSync(segment.segmentPath));
    expect(batches[0]).toMatchObject({ index: 0, firstSeq: 7, lastSeq: 7 + 99 * 3 });
    expect(batches.at(-1)).toMatchObject({ index: 10, lastSeq: segment.manifest.lastSeq });
  });

  it('ends a batch at batchBytes as well as at batchRows, on record boundaries', async () => {
    const segment = writeSegment(tempDir('reader'), { firstSeq: 1, count: 300, payloadBytes: 200 });
    const batches = await readAll(segment, { batchRows: 1_000, batchBytes: 10_000 });
    expect(batches.length).toBeGreaterThan(5);
    for (const b of batches) {
      const body = Buffer.concat(b.chunks);
      expect(body.length).toBe(b.bytes);
      expect(body.at(-1)).toBe(0x0a);
      expect(body.toString().split('\n').length - 1).toBe(b.rows);
    }
    expect(batches.reduce((n, b) => n + b.rows, 0)).toBe(300);
  });

  it('skips records up to skipThroughSeq (resume after what landed) but still verifies the whole file', async () => {
    const segment = writeSegment(tempDir('reader'), { firstSeq: 1, count: 500 });
    const batches = await readAll(segment, { skipThroughSeq: 250 });
    const lines = Buffer.concat(batches.flatMap((b) => b.chunks))
      .toString()
      .trim()
      .split('\n');
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual(Array.from({ length: 250 }, (_, i) => 251 + i));
  });

  it('checks every record whatever the read size: split across reads, or longer than a read', async () => {
    // Reads of 64 bytes are shorter than a record (no newline in some reads); 97 and 250 split records at
    // shifting places, so the forged record below lands across a read boundary for some of them.
    const dir = tempDir('reader');
    for (const readChunkBytes of [64, 97, 250, 4_096]) {
      const good = writeSegment(dir, { firstSeq: 1 + readChunkBytes * 1_000, count: 120, seqStep: 2 });
      const batches = await readAll(good, { readChunkBytes, batchRows: 7 });
      expect(Buffer.concat(batches.flatMap((b) => b.chunks))).toEqual(readFileSync(good.segmentPath));
      expect(batches.reduce((n, b) => n + b.rows, 0)).toBe(120);
      for (const line of [10, 11, 12]) {
        const bad = writeSegment(dir, { firstSeq: 1 + readChunkBytes * 1_000 + line * 100_000, count: 50 });
        const seq = line + 1;
        writeFileSync(
          bad.segmentPath,
          swapLine(bad, line, { producerId: 'gw-2', topic: bad.manifest.topic, seq }),
        );
        expect(await reasonOf(readAll(bad, { readChunkBytes })), `${readChunkBytes}/${line}`).toBe(
          'record_shape',
        );
      }
    }
  });

  it('verifyFile refuses a file whose bytes or size differ from the manifest', async () => {
    const dir = tempDir('reader');
    const flipped = writeSegment(dir, { firstSeq: 1, count: 50 });
    const bytes = readFileSync(flipped.segmentPath);
    bytes[100] = (bytes[100] as number) ^ 0x20;
    writeFileSync(flipped.segmentPath, bytes);
    expect(await reasonOf(SegmentReader.verifyFile(flipped.segmentPath, flipped.manifest))).toBe('checksum');
    const short = writeSegment(dir, { firstSeq: 1_000, count: 50 });
    writeFileSync(short.segmentPath, readFileSync(short.segmentPath).subarray(0, 1_000));
    expect(await reasonOf(SegmentReader.verifyFile(short.segmentPath, short.manifest))).toBe('size');
    const good = writeSegment(dir, { firstSeq: 5_000, count: 50 });
    expect(await reasonOf(SegmentReader.verifyFile(good.segmentPath, good.manifest))).toBeUndefined();
  });

  it('hands out the end of a full last batch only after the end-of-file checks pass', async () => {
    // Exactly one full batch (100 rows, batchRows 100) whose manifest counts one record more: the batch's
    // end must not follow its 100th record before the end of the file has been checked.
    const segment = writeSegment(tempDir('reader'), { firstSeq: 1, count: 100 });
    const manifest = { ...segment.manifest, recordCount: 101 };
    const reader = new SegmentReader(segment.segmentPath, manifest, { batchRows: 100, batchBytes: 1 << 20 });
    const yielded: SegmentBatch[] = [];
    const reason = await reasonOf(
      (async () => {
        for await (const batch of reader.batches()) yielded.push(batch);
      })(),
    );
    expect(reason).toBe('record_count');
    expect(yielded).toEqual([]);
  });

  it('refuses records that do not belong to the manifest: other producer, other topic, seq order or range', async () => {
    const dir = tempDir('reader');
    const cases: [string, (s: FixtureSegment) => Buffer][] = [
      ['record_shape', (s) => swapLine(s, 10, { producerId: 'gw-2', topic: s.manifest.topic, seq: 11 })],
      ['record_shape', (s) => swapLine(s, 10, { producerId: 'gw-1', topic: 'market.tick', seq: 11 })],
      ['seq_order', (s) => swapLine(s, 10, { producerId: 'gw-1', topic: s.manifest.topic, seq: 3 })],
      ['seq_range', (s) => swapLine(s, 49, { producerId: 'gw-1', topic: s.manifest.topic, seq: 10_000 })],
      ['torn_tail', (s) => readFileSync(s.segmentPath).subarray(0, s.manifest.bytes - 5)],
    ];
    for (const [i, [reason, mutate]] of cases.entries()) {
      const segment = writeSegment(dir, { firstSeq: 1 + i * 1_000_000, count: 50 });
      writeFileSync(segment.segmentPath, mutate(segment));
      expect(await reasonOf(readAll(segment)), reason).toBe(reason);
    }
  });

  it('readVerified keeps the hashed bytes in pooled buffers; pass 2 over them yields the same batches', async () => {
    const dir = tempDir('reader');
    for (const bufferBytes of [64, 97, 4_096, 1 << 20]) {
      const pool = new ReadBufferPool(bufferBytes, 1_000);
      const segment = writeSegment(dir, { firstSeq: 1 + bufferBytes * 1_000, count: 300, seqStep: 2 });
      const verified = await SegmentReader.readVerified(segment.segmentPath, segment.manifest, pool);
      expect(Buffer.concat(verified.chunks)).toEqual(readFileSync(segment.segmentPath));
      const fromMemory = await readAll(segment, { batchRows: 7, source: verified });
      const fromFile = await readAll(segment, { batchRows: 7 });
      expect(fromMemory.map(({ chunks, ...b }) => b)).toEqual(fromFile.map(({ chunks, ...b }) => b));
      expect(Buffer.concat(fromMemory.flatMap((b) => b.chunks))).toEqual(readFileSync(segment.segmentPath));
      // Given back buffers are handed out again (no fresh allocation per segment).
      pool.give(verified.buffers);
      expect(pool.take()).toBe(verified.buffers.at(-1));
    }
  });

  it('readVerified refuses a file whose bytes or size differ from the manifest, longer ones too', async () => {
    const dir = tempDir('reader');
    const pool = new ReadBufferPool(1_024, 100);
    const flipped = writeSegment(dir, { firstSeq: 1, count: 50 });
    const bytes = readFileSync(flipped.segmentPath);
    bytes[100] = (bytes[100] as number) ^ 0x20;
    writeFileSync(flipped.segmentPath, bytes);
    const read = (s: FixtureSegment) => SegmentReader.readVerified(s.segmentPath, s.manifest, pool);
    expect(await reasonOf(read(flipped))).toBe('checksum');
    const short = writeSegment(dir, { firstSeq: 1_000, count: 50 });
    writeFileSync(short.segmentPath, readFileSync(short.segmentPath).subarray(0, 1_000));
    expect(await reasonOf(read(short))).toBe('size');
    const long = writeSegment(dir, { firstSeq: 2_000, count: 50 });
    writeFileSync(
      long.segmentPath,
      Buffer.concat([readFileSync(long.segmentPath), Buffer.alloc(5_000, 0x0a)]),
    );
    expect(await reasonOf(read(long))).toBe('size');
  });

  it('pass 2 over readVerified bytes sends what was hashed even if the file changes afterwards', async () => {
    const segment = writeSegment(tempDir('reader'), { firstSeq: 1, count: 200 });
    const original = readFileSync(segment.segmentPath);
    const verified = await SegmentReader.readVerified(
      segment.segmentPath,
      segment.manifest,
      new ReadBufferPool(256, 100),
    );
    writeFileSync(
      segment.segmentPath,
      swapLine(segment, 10, { producerId: 'gw-2', topic: segment.manifest.topic, seq: 11 }),
    );
    const batches = await readAll(segment, { source: verified });
    expect(Buffer.concat(batches.flatMap((b) => b.chunks))).toEqual(original);
  });

  it('pass 2 over readVerified bytes still checks every record (a writer that sealed a foreign record)', async () => {
    const dir = tempDir('reader');
    for (const bufferBytes of [64, 97, 250, 4_096]) {
      for (const line of [10, 11, 12]) {
        const bad = writeSegment(dir, { firstSeq: 1 + bufferBytes * 1_000 + line * 100_000, count: 50 });
        const forged = swapLine(bad, line, { producerId: 'gw-2', topic: bad.manifest.topic, seq: line + 1 });
        writeFileSync(bad.segmentPath, forged);
        // The writer's own hash over the forged bytes: pass 1 passes, the record checks must not.
        const manifest = {
          ...bad.manifest,
          bytes: forged.length,
          sha256: createHash('sha256').update(forged).digest('hex'),
        };
        const pool = new ReadBufferPool(bufferBytes, 1_000);
        const verified = await SegmentReader.readVerified(bad.segmentPath, manifest, pool);
        const reader = new SegmentReader(bad.segmentPath, manifest, {
          batchRows: 7,
          batchBytes: 1 << 20,
          source: verified,
        });
        const drain = async () => {
          for await (const _ of reader.batches());
        };
        expect(await reasonOf(drain()), `${bufferBytes}/${line}`).toBe('record_shape');
      }
    }
  });
});

/** The segment's bytes with line `index` replaced by another record. */
function swapLine(
  s: FixtureSegment,
  index: number,
  r: { producerId: string; topic: string; seq: number },
): Buffer {
  const lines = readFileSync(s.segmentPath).toString().split('\n');
  const seq = s.manifest.firstSeq + (r.seq - 1);
  lines[index] = encodeRecord({ ...r, seq, tsNs: 1n, payload: '{}' })
    .toString()
    .trimEnd();
  return Buffer.from(lines.join('\n'));
}
