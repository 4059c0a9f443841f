import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAULT_POINTS, type FaultPoint } from '../../loaders/config.js';
import { SegmentState } from '../../loaders/segment-state-store.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { writeBacklog } from './fixtures.js';
import { LoaderScenario, keysOf } from './loader-env.js';

/**
 * Crash points of docs/replay.md: a loader SIGKILLs itself (test-only fault hook) at the point, twice in
 * a row (two victims), then a healthy loader takes the expired claims over and finishes. Every record
 * must end up in ClickHouse exactly once, and the recovery path the contract names must be the one taken.
 */
describe('loaders: SIGKILL at each crash point, repeated', () => {
  let redisServer: RedisServer;
  let clickhouse: ClickHouseServer;
  let scenario: LoaderScenario;

  beforeAll(async () => {
    [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
  });
  afterAll(async () => {
    await Promise.all([redisServer?.stop(), clickhouse?.stop()]);
  });
  beforeEach(async () => {
    scenario = await LoaderScenario.create(redisServer, clickhouse);
  });
  afterEach(async () => {
    await scenario?.close();
  });

  /** The rescuer metric that proves the contract's recovery rule for each point was the one applied. */
  const recoveryEvidence: Record<FaultPoint, { metric: string; label?: string }> = {
    'before-insert': { metric: 'hft_loader_claims_total', label: 'outcome="takeover"' },
    'mid-insert': { metric: 'hft_loader_resume_skipped_rows_total' },
    'after-insert': { metric: 'hft_loader_segments_total', label: 'outcome="verified-present"' },
    'after-loaded': { metric: 'hft_loader_claims_total', label: 'outcome="already_loaded"' },
  };

  for (const point of FAULT_POINTS) {
    it(`recovers every record exactly once after SIGKILLs at ${point}`, async () => {
      const segments = writeBacklog(scenario.walDir, { segments: 4, recordsPerSegment: 1_500 });
      const ids = segments.map((s) => s.manifest.segmentId);

      for (const victim of ['victim-1', 'victim-2']) {
        const proc = await scenario.spawnLoader(victim, {
          loader: { concurrency: 1, faultHook: { point, action: 'sigkill' } },
        });
        expect(await proc.exited()).toBe(-1);
        expect(proc.output()).toContain(`HFT_FAULT_POINT ${point}`);
      }
      // Retention never ran ahead of LOADED: a segment whose files left the WAL dir is LOADED or later.
      const states = await scenario.store.states(ids);
      segments.forEach((s, i) => {
        if (!existsSync(s.segmentPath) || !existsSync(s.manifestPath)) {
          expect([SegmentState.LOADED, SegmentState.ARCHIVED], s.manifest.segmentId).toContain(states[i]);
        }
      });
      const rescuer = await scenario.spawnLoader('rescuer');
      await scenario.waitFinished(ids);

      const counts = await scenario.counts();
      expect(counts.final).toBe(6_000);
      expect(counts.distinct).toBe(6_000);
      expect(await scenario.keys()).toEqual(keysOf(segments));
      const { metric, label } = recoveryEvidence[point];
      const evidence = await waitFor(`${metric} on the rescuer`, async () => {
        const lines = await scenario.metricLines(rescuer, metric);
        const matching = lines.filter((l) => (!label || l.includes(label)) && / [1-9]\d*$/.test(l));
        return matching.length > 0 ? matching : undefined;
      });
      expect(evidence.length).toBeGreaterThan(0);
    });
  }
});
