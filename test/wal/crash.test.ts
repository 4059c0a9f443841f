import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { spawnTs, tempDir, waitFor } from '../harness/process.js';
import { type SegmentOnDisk, deps, metricValue, readSegments, walConfig } from './wal-fixtures.js';

const CHILD = join(import.meta.dirname, 'crash-child.ts');
const KILLS = 18;
const POLICIES = ['batch', 'interval', 'never'] as const;

/** mulberry32: a seeded PRNG so a failing kill schedule can be replayed from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('WAL under SIGKILL at random points', () => {
  it(`keeps every durable-acknowledged record exactly once with gap-free sequences across ${KILLS} kills`, async () => {
    const seed = Number(process.env.WAL_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const dir = tempDir('wal-crash');
    const producerId = 'gw-crash';
    let maxAck = 0;
    let totalTorn = 0;
    let totalDiscarded = 0;
    const verified = new Map<string, SegmentOnDisk>();
    for (let k = 0; k < KILLS; k++) {
      const fsync = POLICIES[k % POLICIES.length] as string;
      const context = `seed ${seed}, kill ${k}, fsync ${fsync}`;
      const child = spawnTs(CHILD, [dir, fsync, producerId]);
      let ready = -1;
      let acked = 0;
      let buffer = '';
      child.child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const [word, value] = line.split(' ');
          if (word === 'ready') ready = Number(value);
          if (word === 'ack') acked = Math.max(acked, Number(value));
        }
      });
      await waitFor(`child ready (${context}): ${child.output()}`, async () => ready >= 0);
      // The restarted child resumed above everything acknowledged before.
      expect(ready, context).toBeGreaterThanOrEqual(maxAck);
      // Let it run until it has acknowledged something new, then a random extra delay: kills land in
      // encoding, writes, fsyncs, rotations and seals alike.
      await waitFor(`child acks (${context}): ${child.output()}`, async () => acked > ready);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 250)));
      child.child.kill('SIGKILL');
      await child.exited();
      maxAck = Math.max(maxAck, acked);

      // Restart as the next process would: recovery must succeed without quarantining anything.
      const d = deps(producerId);
      const writer = await WalWriter.open(walConfig(dir), d);
      expect(await metricValue(d.registry, 'hft_wal_quarantined_segments_total'), context).toBe(0);
      totalTorn += await metricValue(d.registry, 'hft_wal_torn_bytes_total');
      totalDiscarded += await metricValue(d.registry, 'hft_wal_recovery_discarded_records_total');
      const lastSeq = writer.lastSeq();
      await writer.close();

      const segments = readSegments(dir, producerId, verified);
      expect(
        segments.every((s) => s.sealed && s.manifest !== null),
        context,
      ).toBe(true);
      const records = segments.flatMap((s) => s.records).sort((a, b) => a.seq - b.seq);
      const seqs = records.map((r) => r.seq);
      expect(seqs.length, context).toBe(lastSeq);
      expect(seqs[0], context).toBe(1);
      expect(
        seqs.every((s, i) => s === i + 1),
        `${context}: sequences not gap-free/unique`,
      ).toBe(true);
      expect(
        lastSeq,
        `${context}: acknowledged ${maxAck} but only ${lastSeq} on disk`,
      ).toBeGreaterThanOrEqual(maxAck);
      const misplaced = records.filter((r) => (JSON.parse(r.payload) as { s: number }).s !== r.seq);
      expect(misplaced.length, `${context}: records under a wrong sequence`).toBe(0);
      for (const s of segments) {
        expect(s.manifest?.recordCount, context).toBe(s.records.length);
        expect(s.manifest?.firstSeq, context).toBe(s.records[0]?.seq);
        expect(s.manifest?.lastSeq, context).toBe(s.records.at(-1)?.seq);
      }
    }
    expect(maxAck).toBeGreaterThan(0);
    console.info(
      `wal crash test: seed ${seed}, ${KILLS} kills, ${maxAck} acknowledged, ${totalTorn} torn bytes truncated, ${totalDiscarded} unacknowledged records above a gap removed`,
    );
  });
});
