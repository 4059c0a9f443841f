import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import type { WalConfigInput } from '../../src/wal/config.js';
import { JsonPayload } from '../../src/wal/json-payload.js';
import { OPEN_SUFFIX } from '../../src/wal/manifest.js';
import { WAL_TOPICS } from '../../src/wal/recorder.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { tempDir, waitFor } from '../harness/process.js';
import { allRecords, deps, metricValue, readSegments, walConfig } from './wal-fixtures.js';

const open: WalWriter[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((w) => w.close()));
});

async function openWriter(dir: string, overrides: Omit<WalConfigInput, 'dir'> = {}, d = deps()) {
  const writer = await WalWriter.open(walConfig(dir, overrides), d);
  open.push(writer);
  return { writer, ...d };
}

/** The producer's durable high-water mark, read from disk. */
function highWater(dir: string): number {
  return (
    JSON.parse(readFileSync(join(dir, 'gw-1', 'high-water.json'), 'utf8')) as { reservedThrough: number }
  ).reservedThrough;
}

function expectGapFree(seqs: number[], from = 1): void {
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => from + i));
}

describe('WalWriter', () => {
  for (const fsync of ['batch', 'interval', 'never'] as const) {
    it(`makes every record durable by flush() and seals it on close (fsync ${fsync})`, async () => {
      const dir = tempDir('wal');
      const { writer } = await openWriter(dir, { fsync });
      const sent: { seq: number; topic: string; payload: string }[] = [];
      for (let i = 0; i < 3000; i++) {
        const topic = WAL_TOPICS[i % WAL_TOPICS.length] as (typeof WAL_TOPICS)[number];
        const payload = { i, note: `é ${i} "quoted"` };
        sent.push({ seq: writer.record(topic, payload), topic, payload: JSON.stringify(payload) });
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }
      await writer.flush();
      expect(writer.durableSeq()).toBe(3000);
      expect(
        allRecords(dir, 'gw-1').map((r) => ({ seq: r.seq, topic: r.topic, payload: r.payload })),
      ).toEqual(sent);
      await writer.close();
      const segments = readSegments(dir, 'gw-1');
      expect(segments.every((s) => s.sealed && s.manifest !== null)).toBe(true);
      for (const s of segments) {
        const bytes = readFileSync(s.file);
        expect(s.manifest).toMatchObject({
          recordCount: s.records.length,
          firstSeq: s.records[0]?.seq,
          lastSeq: s.records.at(-1)?.seq,
          bytes: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          firstTsNs: s.records[0]?.tsNs.toString(),
          lastTsNs: s.records.at(-1)?.tsNs.toString(),
        });
      }
    });
  }

  it('hands out one gap-free sequence per producer across topics, continuing after a clean restart', async () => {
    const dir = tempDir('wal');
    const first = await openWriter(dir);
    for (let i = 0; i < 10; i++) first.writer.record(i % 2 ? 'gateway.fill' : 'gateway.ack', { i });
    expect(highWater(dir)).toBe(1_000_000); // the first block, reserved at open
    await first.writer.close();
    expect(highWater(dir)).toBe(10); // a clean close releases the unused part of the block
    const second = await openWriter(dir);
    expect(second.writer.lastSeq()).toBe(10);
    expect(second.writer.record('gateway.intent', { again: true })).toBe(11);
    await second.writer.close();
    expectGapFree(allRecords(dir, 'gw-1').map((r) => r.seq));
  });

  it('hands out a number only once a durable high-water mark covers it, reserving the next block ahead', async () => {
    const dir = tempDir('wal');
    const { writer, registry } = await openWriter(dir, { seqReserveBlock: 16 });
    const handed: number[] = [];
    let refusal: unknown;
    // Synchronously, the reservation started halfway through the block cannot land: the block runs out.
    for (let i = 0; i < 40 && refusal === undefined; i++) {
      try {
        handed.push(writer.record('gateway.intent', { i }));
        expect(highWater(dir)).toBeGreaterThanOrEqual(handed.at(-1) as number);
      } catch (err) {
        refusal = err;
      }
    }
    expect(handed).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(isGatewayError(refusal, 'GW_ERR_WAL_QUEUE_FULL')).toBe(true);
    expect(await metricValue(registry, 'hft_wal_refused_total', { reason: 'seq_reserve' })).toBe(1);
    // Once the next block is durable the refused number is handed out: nothing was consumed.
    await waitFor('next block reserved', async () => highWater(dir) > 16);
    // Over several blocks, a record either gets the next number, covered on disk, or waits for the block.
    for (let i = 0; i < 200; ) {
      try {
        const seq = writer.record('gateway.intent', { i });
        expect(seq).toBe(17 + i);
        expect(highWater(dir)).toBeGreaterThanOrEqual(seq);
        i++;
      } catch (err) {
        if (!isGatewayError(err, 'GW_ERR_WAL_QUEUE_FULL')) throw err;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    await writer.close();
    expect(highWater(dir)).toBe(216);
    expectGapFree(allRecords(dir, 'gw-1').map((r) => r.seq));
  });

  it('keeps numbering above archived segments using the persisted high-water mark', async () => {
    const dir = tempDir('wal');
    const first = await openWriter(dir);
    for (let i = 0; i < 5; i++) first.writer.record('gateway.fill', { i });
    await first.writer.close();
    // A loader archives everything it loaded: segments and manifests disappear from the directory.
    const topicDir = join(dir, 'gw-1', 'gateway.fill');
    for (const name of readdirSync(topicDir)) rmSync(join(topicDir, name), { recursive: true });
    const second = await openWriter(dir);
    expect(second.writer.record('gateway.fill', {})).toBe(6);
  });

  it('rotates by size while running; sealed segments are never touched again', async () => {
    const dir = tempDir('wal');
    const { writer, registry } = await openWriter(dir, { segmentMaxBytes: 4096, batchMaxRecords: 10 });
    for (let i = 0; i < 400; i++) {
      writer.record('gateway.decision', { i, pad: 'x'.repeat(40) });
      if (i % 10 === 0) await writer.flush();
    }
    await writer.flush();
    const sealedEarly = readSegments(dir, 'gw-1').filter((s) => s.sealed);
    expect(sealedEarly.length).toBeGreaterThan(3);
    const fingerprints = sealedEarly.map((s) => [s.file, readFileSync(s.file).toString('hex')]);
    for (let i = 0; i < 100; i++) writer.record('gateway.decision', { i });
    await writer.close();
    for (const [file, hex] of fingerprints) expect(readFileSync(file as string).toString('hex')).toBe(hex);
    for (const s of sealedEarly) expect(s.manifest?.bytes).toBeLessThan(4096 + 4096);
    expect(await metricValue(registry, 'hft_wal_segments_sealed_total')).toBe(
      readSegments(dir, 'gw-1').length,
    );
    expectGapFree(allRecords(dir, 'gw-1').map((r) => r.seq));
  });

  it('seals an idle segment once it reaches its maximum age', async () => {
    const dir = tempDir('wal');
    const { writer } = await openWriter(dir, { segmentMaxAgeMs: 50 });
    writer.record('ha.role', { role: 'ACTIVE' });
    await writer.flush();
    await waitFor('age rotation', async () => readSegments(dir, 'gw-1').every((s) => s.sealed && s.manifest));
    const segments = readSegments(dir, 'gw-1');
    expect(segments).toHaveLength(1);
    expect(segments[0]?.manifest?.recordCount).toBe(1);
  });

  it('refuses with GW_ERR_WAL_QUEUE_FULL when the buffer bound is hit, without using a sequence number', async () => {
    const dir = tempDir('wal');
    const { writer, registry } = await openWriter(dir, {
      maxBufferedBytes: 65536,
      maxRecordBytes: 4096,
      batchMaxBytes: 1 << 20,
      batchMaxDelayMs: 1000,
    });
    const payload = { pad: 'y'.repeat(200) };
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 10_000 && refusal === undefined; i++) {
      try {
        writer.record('market.tick', payload);
        accepted++;
      } catch (err) {
        refusal = err;
      }
    }
    expect(isGatewayError(refusal, 'GW_ERR_WAL_QUEUE_FULL')).toBe(true);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted * 250).toBeLessThanOrEqual(65536 + 1024);
    expect(await metricValue(registry, 'hft_wal_refused_total', { reason: 'queue_full' })).toBe(1);
    await writer.flush();
    expect(writer.record('market.tick', payload)).toBe(accepted + 1);
    await writer.close();
    expectGapFree(allRecords(dir, 'gw-1').map((r) => r.seq));
  });

  it('refuses invalid records with GW_ERR_WAL_RECORD_INVALID and a closed writer with GW_ERR_WAL_CLOSED', async () => {
    const dir = tempDir('wal');
    const { writer, registry } = await openWriter(dir, { maxRecordBytes: 1024 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return isGatewayError(err) ? err.code : String(err);
      }
      return 'no error';
    };
    expect(code(() => writer.record('no.such' as 'ha.role', {}))).toBe('GW_ERR_WAL_RECORD_INVALID');
    expect(code(() => writer.record('ha.role', { n: 1n }))).toBe('GW_ERR_WAL_RECORD_INVALID');
    expect(code(() => writer.record('ha.role', undefined))).toBe('GW_ERR_WAL_RECORD_INVALID');
    expect(code(() => writer.record('ha.role', { big: 'z'.repeat(2000) }))).toBe('GW_ERR_WAL_RECORD_INVALID');
    expect(writer.record('ha.role', { ok: true })).toBe(1);
    expect(await metricValue(registry, 'hft_wal_refused_total', { reason: 'invalid' })).toBe(4);
    await writer.close();
    expect(code(() => writer.record('ha.role', {}))).toBe('GW_ERR_WAL_CLOSED');
    expect(readSegments(dir, 'gw-1').flatMap((s) => s.records)).toHaveLength(1);
  });

  it('records a built JsonPayload exactly as record() records the same value, in one sequence', async () => {
    const dir = tempDir('wal');
    const { writer, registry } = await openWriter(dir, { maxRecordBytes: 1024 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return isGatewayError(err) ? err.code : String(err);
      }
      return 'no error';
    };
    const event = { px: 5_855_000, note: 'plain text', ok: true, levels: [1, -2, 3] };
    const json = new JsonPayload(4_096);
    const build = () =>
      json
        .reset()
        .beginObject()
        .key(JsonPayload.prepareKey('px'))
        .int(event.px)
        .key(JsonPayload.prepareKey('note'))
        .text(event.note)
        .key(JsonPayload.prepareKey('ok'))
        .bool(event.ok)
        .key(JsonPayload.prepareKey('levels'))
        .beginArray()
        .int(1)
        .int(-2)
        .int(3)
        .endArray()
        .endObject();
    expect(writer.record('market.tick', event)).toBe(1);
    expect(writer.recordJson('market.tick', build())).toBe(2);
    expect(writer.recordJson('market.bidask', build())).toBe(3);
    // A payload that failed, is incomplete, or is above maxRecordBytes: refused without using a number.
    expect(code(() => writer.recordJson('market.tick', build().text('x')))).toBe('GW_ERR_WAL_RECORD_INVALID');
    expect(code(() => writer.recordJson('market.tick', json.reset().beginObject()))).toBe(
      'GW_ERR_WAL_RECORD_INVALID',
    );
    expect(code(() => writer.recordJson('market.tick', json.reset().text('z'.repeat(2_000))))).toBe(
      'GW_ERR_WAL_RECORD_INVALID',
    );
    expect(writer.recordJson('market.tick', build())).toBe(4);
    expect(await metricValue(registry, 'hft_wal_refused_total', { reason: 'invalid' })).toBe(3);
    await writer.close();
    const records = allRecords(dir, 'gw-1');
    const text = JSON.stringify(event);
    expect(records.map((r) => [r.seq, r.payload])).toEqual([
      [1, text],
      [2, text],
      [3, text],
      [4, text],
    ]);
  });

  it('advances durableSeq on its own under interval fsync, and only after the records are written', async () => {
    const dir = tempDir('wal');
    const { writer } = await openWriter(dir, { fsync: 'interval', fsyncIntervalMs: 20, batchMaxDelayMs: 1 });
    for (let i = 0; i < 100; i++) writer.record('gateway.ack', { i });
    expect(writer.durableSeq()).toBe(0); // nothing is durable before a commit ran
    await waitFor('interval fsync', async () => writer.durableSeq() === 100);
    expect(allRecords(dir, 'gw-1')).toHaveLength(100);
  });

  it('never leaves an .open segment after close', async () => {
    const dir = tempDir('wal');
    const { writer } = await openWriter(dir);
    writer.record('gateway.intent', {});
    await writer.close();
    const files = readdirSync(join(dir, 'gw-1', 'gateway.intent'));
    expect(files.filter((f) => f.endsWith(OPEN_SUFFIX))).toEqual([]);
  });
});
