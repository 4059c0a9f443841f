import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickhouseSection } from '../../src/config/sections.js';
import { isGatewayError } from '../../src/errors.js';
import { walSection } from '../../src/wal/config.js';
import { type Recorder, createRecorder } from '../../src/wal/create-recorder.js';
import { MANIFEST_SUFFIX, type SegmentManifest } from '../../src/wal/manifest.js';
import type { WalTopic } from '../../src/wal/recorder.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { spawnTs, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { LoaderScenario } from '../loaders/loader-env.js';
import { deps } from './wal-fixtures.js';

const TOPICS: readonly WalTopic[] = ['gateway.decision', 'gateway.intent', 'gateway.fill'];
const CRASH_CHILD = 'test/wal/direct-crash-child.ts';

/** What one recorder run handed out: seq → the payload recorded under it. */
type Handed = Map<number, string>;

/** Sealed segment ids of a producer still in the WAL dir (the backlog the loaders have to load). */
function sealedSegments(root: string, producerId: string): string[] {
  const ids: string[] = [];
  for (const topic of TOPICS) {
    let files: string[];
    try {
      files = readdirSync(join(root, producerId, topic));
    } catch {
      continue; // topic never written by the WAL
    }
    for (const f of files.filter((n) => n.endsWith(MANIFEST_SUFFIX))) {
      const manifest = JSON.parse(readFileSync(join(root, producerId, topic, f), 'utf8')) as SegmentManifest;
      ids.push(manifest.segmentId);
    }
  }
  return ids;
}

/** Blocks of 64 numbers run out faster than a loop records: wait for the next block, as a caller would. */
async function recordPatiently(recorder: Recorder, topic: WalTopic, payload: unknown): Promise<number> {
  for (;;) {
    try {
      return recorder.record(topic, payload);
    } catch (err) {
      if (!isGatewayError(err, 'GW_ERR_WAL_QUEUE_FULL')) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * A process switching `wal.mode` between runs must keep ONE sequence per producer: no number handed out
 * twice, whichever mode handed it out, and every record present exactly once in ClickHouse once the WAL's
 * backlog is loaded (wal_events collapses rows with the same (topic, producer_id, seq): a reused number
 * silently loses an event). The loaders are down while the modes switch, so the WAL's numbers are not in
 * ClickHouse when the direct recorder starts.
 */
describe('recorder mode switches keep one sequence per producer', () => {
  let redisServer: RedisServer;
  let clickhouse: ClickHouseServer;
  let scenario: LoaderScenario;

  beforeAll(async () => {
    [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
    scenario = await LoaderScenario.create(redisServer, clickhouse);
    // A loader applies the schema (wal_events), then goes down: the WAL backlog stays unloaded.
    const loader = await scenario.spawnLoader('schema');
    loader.child.kill('SIGKILL');
    await loader.exited();
  });
  afterAll(async () => {
    await scenario?.close();
    await Promise.all([redisServer?.stop(), clickhouse?.stop()]);
  });

  const config = (mode: 'wal_first' | 'direct') => ({
    wal: walSection.parse({
      dir: scenario.walDir,
      mode,
      seqReserveBlock: 64,
      segmentMaxBytes: 16 * 1024,
      disk: { enabled: false },
      direct: { flushIntervalMs: 20, retryBackoffMs: 50 },
    }),
    clickhouse: clickhouseSection.parse({ url: clickhouse.url, database: scenario.database }),
  });

  /** One run in `mode`: records `n` events across topics, flushes, closes; returns what it handed out. */
  async function run(producerId: string, mode: 'wal_first' | 'direct', label: string, n: number) {
    const recorder: Recorder = await createRecorder(config(mode), deps(producerId));
    const handed: Handed = new Map();
    for (let i = 0; i < n; i++) {
      const payload = { label, i };
      const seq = await recordPatiently(recorder, TOPICS[i % TOPICS.length] as WalTopic, payload);
      handed.set(seq, JSON.stringify(payload));
    }
    await recorder.flush();
    await recorder.close();
    return handed;
  }

  /** Loads the producer's sealed backlog with a real loader process, then stops it again. */
  async function loadBacklog(producerId: string): Promise<void> {
    const ids = sealedSegments(scenario.walDir, producerId);
    expect(ids.length).toBeGreaterThan(0);
    const loader = await scenario.spawnLoader(`loader-${producerId}`);
    await scenario.waitFinished(ids);
    loader.child.kill('SIGKILL');
    await loader.exited();
  }

  async function rowsOf(producerId: string): Promise<{ seq: number; payload: string }[]> {
    const rs = await scenario.ch.query({
      query: `SELECT seq, payload FROM ${scenario.database}.wal_events FINAL WHERE producer_id = '${producerId}' ORDER BY seq`,
      format: 'JSONEachRow',
    });
    return (await rs.json<{ seq: string | number; payload: string }>()).map((r) => ({
      seq: Number(r.seq),
      payload: r.payload,
    }));
  }

  /** Every run's numbers are above every earlier run's, all are unique, and each record is stored once. */
  async function expectOneSequence(producerId: string, runs: Handed[]): Promise<void> {
    const all = runs.flatMap((h) => [...h.keys()]);
    expect(new Set(all).size).toBe(all.length);
    for (let k = 1; k < runs.length; k++) {
      const before = Math.max(...runs.slice(0, k).flatMap((h) => [...h.keys()]));
      expect(Math.min(...(runs[k] as Handed).keys()), `run ${k} starts above every earlier number`).toBe(
        before + 1,
      );
    }
    const rows = await rowsOf(producerId);
    const expected = runs
      .flatMap((h) => [...h.entries()])
      .sort((a, b) => a[0] - b[0])
      .map(([seq, payload]) => ({ seq, payload }));
    expect(rows).toEqual(expected);
  }

  it('wal_first → direct → wal_first with the WAL backlog not yet in ClickHouse', async () => {
    const producerId = 'gw-wdw';
    const runs = [
      await run(producerId, 'wal_first', 'wal-1', 300),
      await run(producerId, 'direct', 'direct-1', 200),
      await run(producerId, 'wal_first', 'wal-2', 150),
    ];
    await loadBacklog(producerId);
    await expectOneSequence(producerId, runs);
  });

  it('direct → wal_first → direct → wal_first on a fresh producer', async () => {
    const producerId = 'gw-dwdw';
    const runs = [
      await run(producerId, 'direct', 'direct-1', 200),
      await run(producerId, 'wal_first', 'wal-1', 100),
      await run(producerId, 'direct', 'direct-2', 120),
      await run(producerId, 'wal_first', 'wal-2', 80),
    ];
    await loadBacklog(producerId);
    await expectOneSequence(producerId, runs);
  });

  it('a direct recorder SIGKILLed with rows never inserted: no later run, in either mode, reuses its numbers', async () => {
    const producerId = 'gw-crash';
    const walFirst = await run(producerId, 'wal_first', 'wal-1', 100);
    // The child inserts 100 rows, then hands out 50 more that its long flush interval keeps buffered;
    // it reports both and waits to be killed. Blocks of 64 numbers: it crosses several reservations.
    const child = spawnTs(CRASH_CHILD, [JSON.stringify(config('direct')), producerId, '100', '50']);
    const report = await waitFor(`direct child reports: ${child.output()}`, async () => {
      const line = child
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"handed"'));
      return line ? (JSON.parse(line) as { handed: number[]; inserted: number }) : undefined;
    });
    child.child.kill('SIGKILL');
    await child.exited();
    expect(report.handed).toHaveLength(150);
    expect(report.inserted).toBe(Math.max(...report.handed.slice(0, 100)));

    const afterCrash = await run(producerId, 'direct', 'direct-2', 30);
    const walAgain = await run(producerId, 'wal_first', 'wal-2', 30);
    const handedByChild = new Set(report.handed);
    for (const seq of [...afterCrash.keys(), ...walAgain.keys()]) expect(handedByChild.has(seq)).toBe(false);
    expect(Math.min(...afterCrash.keys())).toBeGreaterThan(Math.max(...report.handed));
    expect(Math.min(...walAgain.keys())).toBeGreaterThan(Math.max(...afterCrash.keys()));
    expect(Math.min(...report.handed)).toBeGreaterThan(Math.max(...walFirst.keys()));

    await loadBacklog(producerId);
    // The 50 buffered rows died with the child (direct mode's known loss); everything else is there once.
    const rows = await rowsOf(producerId);
    const seqs = rows.map((r) => r.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    const expected = [
      ...walFirst.keys(),
      ...report.handed.slice(0, 100),
      ...afterCrash.keys(),
      ...walAgain.keys(),
    ].sort((a, b) => a - b);
    expect(seqs).toEqual(expected);
  });
});
