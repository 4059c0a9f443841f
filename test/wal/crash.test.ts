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

/** What one child process (one run) reported. */
interface Run {
  readonly index: number;
  readonly fsync: string;
  /** lastSeq() right after open: the run hands out numbers from ready + 1. */
  ready: number;
  /** Highest number the run reported as handed out (ready when none). */
  handed: number;
  /** Highest durableSeq the run acknowledged. */
  acked: number;
}

describe('WAL under SIGKILL at random points', () => {
  it(`keeps every durable-acknowledged record exactly once and never hands a sequence out twice across ${KILLS} kills`, async () => {
    const seed = Number(process.env.WAL_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const dir = tempDir('wal-crash');
    const producerId = 'gw-crash';
    const runs: Run[] = [];
    let totalTorn = 0;
    const verified = new Map<string, SegmentOnDisk>();
    for (let k = 0; k < KILLS; k++) {
      const fsync = POLICIES[k % POLICIES.length] as string;
      const context = `seed ${seed}, kill ${k}, fsync ${fsync}`;
      const run: Run = { index: k, fsync, ready: -1, handed: -1, acked: -1 };
      let contiguous = true;
      const child = spawnTs(CHILD, [dir, fsync, producerId, String(k)]);
      let buffer = '';
      child.child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const [word, a, b] = line.split(' ');
          if (word === 'ready') {
            run.ready = Number(a);
            run.handed = run.ready;
            run.acked = run.ready;
          }
          if (word === 'handed') {
            // Within a run numbers are consecutive: a refused record takes none.
            if (Number(a) !== run.handed + 1) contiguous = false;
            run.handed = Number(b);
          }
          if (word === 'ack') run.acked = Math.max(run.acked, Number(a));
        }
      });
      await waitFor(`child ready (${context}): ${child.output()}`, async () => run.ready >= 0);
      // No reuse: the restarted child starts above every number any earlier run handed out.
      for (const earlier of runs) {
        expect(
          run.ready,
          `${context}: starts at ${run.ready + 1}, run ${earlier.index} handed out ${earlier.handed}`,
        ).toBeGreaterThanOrEqual(earlier.handed);
      }
      // Let it run until it has acknowledged something new, then a random extra delay: kills land in
      // encoding, writes, fsyncs, rotations, seals and block reservations alike.
      await waitFor(`child acks (${context}): ${child.output()}`, async () => run.acked > run.ready);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 250)));
      child.child.kill('SIGKILL');
      await child.exited();
      expect(contiguous, `${context}: handed-out numbers not consecutive`).toBe(true);
      expect(run.acked, context).toBeLessThanOrEqual(run.handed);
      runs.push(run);

      // Restart as the next process would: recovery must succeed without quarantining anything.
      const d = deps(producerId);
      const writer = await WalWriter.open(walConfig(dir), d);
      expect(await metricValue(d.registry, 'hft_wal_quarantined_segments_total'), context).toBe(0);
      totalTorn += await metricValue(d.registry, 'hft_wal_torn_bytes_total');
      // Numbering resumes above everything handed out, by this run and every earlier one.
      expect(writer.lastSeq(), context).toBeGreaterThanOrEqual(run.handed);
      await writer.close();

      const segments = readSegments(dir, producerId, verified);
      expect(
        segments.every((s) => s.sealed && s.manifest !== null),
        context,
      ).toBe(true);
      for (const s of segments) {
        expect(s.manifest?.recordCount, context).toBe(s.records.length);
        expect(s.manifest?.firstSeq, context).toBe(s.records[0]?.seq);
        expect(s.manifest?.lastSeq, context).toBe(s.records.at(-1)?.seq);
      }
      const onDisk = new Map<number, number>(); // seq → run that wrote it
      let duplicates = 0;
      let misplaced = 0;
      for (const r of segments.flatMap((s) => s.records)) {
        const payload = JSON.parse(r.payload) as { s: number; run: number };
        if (onDisk.has(r.seq)) duplicates++;
        if (payload.s !== r.seq) misplaced++;
        onDisk.set(r.seq, payload.run);
      }
      expect(duplicates, `${context}: a sequence number on disk twice`).toBe(0);
      expect(misplaced, `${context}: records under a wrong sequence`).toBe(0);
      for (const r of runs) {
        // Every number a run handed out belongs to that run alone: no record of another run carries it.
        let foreign = 0;
        let lost = 0;
        for (let seq = r.ready + 1; seq <= r.handed; seq++) {
          const writer = onDisk.get(seq);
          if (writer !== undefined && writer !== r.index) foreign++;
          // Every number acknowledged as durable is on disk.
          if (seq <= r.acked && writer === undefined) lost++;
        }
        expect(foreign, `${context}: run ${r.index}'s numbers reused by another run`).toBe(0);
        expect(lost, `${context}: run ${r.index} acknowledged through ${r.acked}, records missing`).toBe(0);
      }
      // A record of a run that was not reported (killed between record() and the report) still lies
      // above everything handed out before that run and below the next run's start.
      for (const [seq, writerRun] of onDisk) {
        const r = runs[writerRun] as Run;
        const next = runs[writerRun + 1];
        if (seq <= r.ready || (next !== undefined && seq > next.ready)) {
          expect.fail(`${context}: seq ${seq} written by run ${writerRun} outside its numbers`);
        }
      }
    }
    const acknowledged = runs.reduce((n, r) => n + (r.acked - r.ready), 0);
    const skipped = runs.reduce((n, r, i) => n + ((runs[i + 1]?.ready ?? r.handed) - r.handed), 0);
    expect(acknowledged).toBeGreaterThan(0);
    console.info(
      `wal crash test: seed ${seed}, ${KILLS} kills, ${acknowledged} acknowledged, ${totalTorn} torn bytes truncated, ${skipped} reserved numbers skipped after crashes (never handed out)`,
    );
  });
});
