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

  it('readVerified: one read, hashed and line-checked, cut into the same batches as the streaming pass', async () => {
    const dir = tempDir('reader');
    for (const bufferBytes of [64, 97, 4_096, 1 << 20]) {
      for (const skipThroughSeq of [-1, 1 + bufferBytes * 1_000 + 2 * 150]) {
        const pool = new ReadBufferPool(bufferBytes, 1_000);
        const segment = writeSegment(dir, {
          firstSeq: 1 + bufferBytes * 1_000 + (skipThroughSeq < 0 ? 0 : 1),
          count: 300,
          seqStep: 2,
        });
        const plan = { batchRows: 7, batchBytes: 1 << 20, skipThroughSeq };
        const verified = await SegmentReader.readVerified(segment.segmentPath, segment.manifest, pool, plan);
        const file = readFileSync(segment.segmentPath);
        expect(Buffer.concat(verified.chunks)).toEqual(file);
        const streamed = await readAll(segment, plan);
        expect(verified.batches.map(({ chunks, ...b }) => b)).toEqual(streamed.map(({ chunks, ...b }) => b));
        expect(Buffer.concat(verified.batches.flatMap((b) => b.chunks))).toEqual(
          Buffer.concat(streamed.flatMap((b) => b.chunks)),
        );
        if (skipThroughSeq < 0)
          expect(Buffer.concat(verified.batches.flatMap((b) => b.chunks))).toEqual(file);
        else expect(verified.batches[0]?.firstSeq).toBeGreaterThan(skipThroughSeq);
        // Another plan over the same bytes (the re-insert of a whole segment after a resume left a gap).
        const all = SegmentReader.replan(segment.segmentPath, segment.manifest, verified, {
          batchRows: 50,
          batchBytes: 1 << 20,
        });
        expect(all.batches.map(({ chunks, ...b }) => b)).toEqual(
          (await readAll(segment, { batchRows: 50 })).map(({ chunks, ...b }) => b),
        );
        expect(Buffer.concat(all.batches.flatMap((b) => b.chunks))).toEqual(file);
        // Given back buffers are handed out again (no fresh allocation per segment).
        pool.give(verified.buffers);
        expect(pool.take()).toBe(verified.buffers.at(-1));
      }
    }
  });

  it('readVerified refuses a file whose bytes or size differ from the manifest, longer ones too', async () => {
    const dir = tempDir('reader');
    const pool = new ReadBufferPool(1_024, 100);
    const flipped = writeSegment(dir, { firstSeq: 1, count: 50 });
    const bytes = readFileSync(flipped.segmentPath);
    bytes[100] = (bytes[100] as number) ^ 0x20;
    writeFileSync(flipped.segmentPath, bytes);
    const read = (s: FixtureSegment) =>
      SegmentReader.readVerified(s.segmentPath, s.manifest, pool, { batchRows: 100, batchBytes: 1 << 20 });
    expect(await reasonOf(read(flipped))).toBe('checksum');
    // A flipped byte that also breaks a record's shape is still a checksum fault (the hash is checked first).
    const shape = writeSegment(dir, { firstSeq: 500, count: 50 });
    const shapeBytes = readFileSync(shape.segmentPath);
    shapeBytes[3] = (shapeBytes[3] as number) ^ 0x20; // inside `"producer_id"` of the first record
    writeFileSync(shape.segmentPath, shapeBytes);
    expect(await reasonOf(read(shape))).toBe('checksum');
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

  it('readVerified batches hold what was hashed even if the file changes afterwards', async () => {
    const segment = writeSegment(tempDir('reader'), { firstSeq: 1, count: 200 });
    const original = readFileSync(segment.segmentPath);
    const verified = await SegmentReader.readVerified(
      segment.segmentPath,
      segment.manifest,
      new ReadBufferPool(256, 100),
      { batchRows: 100, batchBytes: 1 << 20 },
    );
    writeFileSync(
      segment.segmentPath,
      swapLine(segment, 10, { producerId: 'gw-2', topic: segment.manifest.topic, seq: 11 }),
    );
    expect(Buffer.concat(verified.batches.flatMap((b) => b.chunks))).toEqual(original);
  });

  it('readVerified checks every record before returning any batch, the last chunk too (a writer that sealed a foreign record)', async () => {
    const dir = tempDir('reader');
    const count = 50;
    for (const bufferBytes of [64, 97, 250, 4_096, 1 << 20]) {
      for (const line of [0, 10, 11, 12, count - 2, count - 1]) {
        const bad = writeSegment(dir, { firstSeq: 1 + bufferBytes * 1_000 + line * 100_000, count });
        const forged = swapLine(bad, line, { producerId: 'gw-2', topic: bad.manifest.topic, seq: line + 1 });
        writeFileSync(bad.segmentPath, forged);
        // The writer's own hash over the forged bytes: the size and sha256 pass, the record checks must not.
        const manifest = {
          ...bad.manifest,
          bytes: forged.length,
          sha256: createHash('sha256').update(forged).digest('hex'),
        };
        const pool = new ReadBufferPool(bufferBytes, 1_000);
        const read = SegmentReader.readVerified(bad.segmentPath, manifest, pool, {
          batchRows: 7,
          batchBytes: 1 << 20,
        });
        // Rejected as a whole: no batch (not even the ones before the forged record) is handed out.
        expect(await reasonOf(read), `${bufferBytes}/${line}`).toBe('record_shape');
      }
    }
    // The forged record in the last read of a segment bigger than one read: the chunk checked last.
    const big = writeSegment(dir, { firstSeq: 9_000_000, count: 2_000 });
    const forged = swapLine(big, 1_999, { producerId: 'gw-2', topic: big.manifest.topic, seq: 2_000 });
    writeFileSync(big.segmentPath, forged);
    const manifest = {
      ...big.manifest,
      bytes: forged.length,
      sha256: createHash('sha256').update(forged).digest('hex'),
    };
    const pool = new ReadBufferPool(64 * 1024, 100);
    expect(forged.length).toBeGreaterThan(2 * pool.bufferBytes);
    expect(
      await reasonOf(
        SegmentReader.readVerified(big.segmentPath, manifest, pool, { batchRows: 100, batchBytes: 1 << 20 }),
      ),
    ).toBe('record_shape');
  });

  it('readVerified finds seq order, range, record count and torn tail faults like the streaming pass', async () => {
    const dir = tempDir('reader');
    const cases: [string, (s: FixtureSegment) => Buffer][] = [
      ['seq_order', (s) => swapLine(s, 49, { producerId: 'gw-1', topic: s.manifest.topic, seq: 3 })],
      ['seq_range', (s) => swapLine(s, 49, { producerId: 'gw-1', topic: s.manifest.topic, seq: 10_000 })],
      ['record_count', (s) => readFileSync(s.segmentPath)], // the manifest below counts one more
      ['torn_tail', (s) => readFileSync(s.segmentPath).subarray(0, s.manifest.bytes - 5)],
    ];
    for (const [i, [reason, mutate]] of cases.entries()) {
      const segment = writeSegment(dir, { firstSeq: 1 + i * 1_000_000, count: 50 });
      const bytes = mutate(segment);
      writeFileSync(segment.segmentPath, bytes);
      const manifest = {
        ...segment.manifest,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        recordCount: segment.manifest.recordCount + (reason === 'record_count' ? 1 : 0),
      };
      const read = SegmentReader.readVerified(segment.segmentPath, manifest, new ReadBufferPool(97, 1_000), {
        batchRows: 7,
        batchBytes: 1 << 20,
      });
      expect(await reasonOf(read), reason).toBe(reason);
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
