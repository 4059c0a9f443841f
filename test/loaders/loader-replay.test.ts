import { renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectClickHouse } from '../../loaders/clickhouse-connect.js';
import { detectFeatures } from '../../loaders/clickhouse-features.js';
import { Migrator, loadMigrations } from '../../loaders/migrator.js';
import { clickhouseSection } from '../../src/config/sections.js';
import { isGatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { RedisServer } from '../harness/redis-server.js';
import { type FixtureSegment, writeBacklog, writeSegment } from './fixtures.js';
import { LoaderScenario, keysOf } from './loader-env.js';

/** V-WAL-DUP and scale-out: real loader processes, real Redis, real ClickHouse 18.16. */
describe('loaders: replay safety and scale-out', () => {
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

  it('V-WAL-DUP: the same segment loaded twice in sequence leaves one business row per record', async () => {
    const segment = writeSegment(scenario.walDir, { firstSeq: 1, count: 2_000 });
    const first = await scenario.spawnLoader('loader-a');
    await scenario.waitFinished([segment.manifest.segmentId]);
    first.child.kill('SIGTERM');
    await first.exited();

    // Operator replay of an archived segment: files back in the WAL dir, state back to SEALED (force: the
    // next load inserts every record again instead of first asking what landed).
    restoreFromArchive(segment);
    const replay = await scenario.replayCli([segment.manifestPath], true);
    expect(replay.output).toContain(`${segment.manifest.segmentId}: ARCHIVED → SEALED (force), job queued`);
    expect(replay.code).toBe(0);
    const second = await scenario.spawnLoader('loader-b');
    await scenario.waitFinished([segment.manifest.segmentId]);

    // Really inserted twice: the second loader sent every record again (merges may already have folded
    // some of the copies, so the raw count is only known to be at least one copy).
    expect(await scenario.metric(second, 'hft_loader_rows_total')).toBe(2_000);
    const counts = await scenario.counts();
    expect(counts.raw).toBeGreaterThanOrEqual(2_000);
    expect(counts.final).toBe(2_000);
    expect(counts.distinct).toBe(2_000);
    expect(await scenario.keys()).toEqual(keysOf([segment]));
  });

  it('applies migrations idempotently (two at once, then again), skips modern-only ones on 18.16, refuses an edited one', async () => {
    const cfg = clickhouseSection.parse({ url: clickhouse.url, database: scenario.database });
    const admin = connectClickHouse(cfg, { database: 'default' });
    const db = connectClickHouse(cfg);
    const logger = createLogger({ level: 'silent', processId: 'migrator-test' });
    const migrator = () => new Migrator(admin, db, scenario.database, logger);
    try {
      const features = await detectFeatures(admin);
      expect(features.insertDeduplicationToken).toBe(false);
      const [a, b] = await Promise.all([migrator().apply(features), migrator().apply(features)]);
      expect([...a, ...b].every((v) => v === 1)).toBe(true);
      expect(await migrator().apply(features)).toEqual([]);
      const applied = await scenario.ch.query({
        query: `SELECT version FROM ${scenario.database}.schema_migrations FINAL`,
        format: 'JSONEachRow',
      });
      expect(await applied.json()).toEqual([{ version: 1 }]);

      const edited = loadMigrations().map((m) => (m.version === 1 ? { ...m, sha256: '0'.repeat(64) } : m));
      await expect(migrator().apply(features, edited)).rejects.toSatisfy((err) =>
        isGatewayError(err, 'GW_ERR_CLICKHOUSE_MIGRATION'),
      );
    } finally {
      await Promise.all([admin.close(), db.close()]);
    }
  });

  it('two loader processes drain a backlog of many segments: none left behind, no duplicate rows', async () => {
    // Both loaders up before the backlog appears, so both are waiting for jobs when it does. loader-b's
    // batchBytes is below a segment's size, so it reads each segment a second time for pass 2 while
    // loader-a sends the buffers pass 1 hashed: both paths drain the same backlog.
    await Promise.all([
      scenario.spawnLoader('loader-a'),
      scenario.spawnLoader('loader-b', { loader: { batchBytes: 16_384 } }),
    ]);
    const segments = writeBacklog(scenario.walDir, { segments: 40, recordsPerSegment: 700 });
    const ids = segments.map((s) => s.manifest.segmentId);
    await scenario.waitFinished(ids);

    const counts = await scenario.counts();
    expect(counts).toEqual({ raw: 28_000, final: 28_000, distinct: 28_000 });
    expect(await scenario.keys()).toEqual(keysOf(segments));
    const workers = new Set(
      await Promise.all(ids.map(async (id) => (await scenario.store.describe(id)).worker)),
    );
    expect(workers).toEqual(new Set(['loader-a', 'loader-b']));
  });
});

/** What runbooks/loader.md tells an operator to do before a replay: move the files back from archive/. */
function restoreFromArchive(segment: FixtureSegment): void {
  for (const path of [segment.segmentPath, segment.manifestPath]) {
    renameSync(join(dirname(path), 'archive', basename(path)), path);
  }
}
