/**
 * Profiling aid for the one-loader case (not a benchmark): runs one loader process with
 * `--cpu-prof` and debug logs (per-segment phase timings), ClickHouse query_log on, then prints where the
 * time went: the loader's phase timings, ClickHouse's own INSERT durations, and wall time.
 *
 *   npx tsx bench/loader/profile.ts [--segments=12] [--records=50000] [--prof-dir=/tmp/lprof]
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SegmentState } from '../../loaders/segment-state-store.js';
import { ClickHouseServer } from '../../test/harness/clickhouse-server.js';
import { spawnTracked, tempDir, waitFor } from '../../test/harness/process.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { writeBacklog } from '../../test/loaders/fixtures.js';
import { LoaderScenario } from '../../test/loaders/loader-env.js';
import { argInt } from '../lib/report.js';

const segmentCount = argInt('segments', 12);
const records = argInt('records', 50_000);
const profDir = process.argv.find((a) => a.startsWith('--prof-dir='))?.split('=')[1];

const [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
try {
  const users = join(clickhouse.dir, 'users.xml');
  writeFileSync(
    users,
    readFileSync(users, 'utf8').replace('<default>', '<default><log_queries>1</log_queries>'),
  );
  await new Promise((r) => setTimeout(r, 3_000)); // users.xml is reloaded periodically
  const staging = tempDir('prof-stage');
  const segments = writeBacklog(staging, { segments: segmentCount, recordsPerSegment: records });
  const scenario = await LoaderScenario.create(redisServer, clickhouse);
  const configFile = join(tempDir('prof-config'), 'config.json');
  const loaderOverrides = {
    concurrency: argInt('concurrency', 2),
    batchRows: argInt('batch-rows', 50_000),
    claimTtlMs: 15_000,
    jobLockMs: 30_000,
    scheduler: { scanIntervalMs: 100 },
  };
  writeFileSync(
    configFile,
    JSON.stringify(scenario.config('prof', { loader: loaderOverrides, log: { level: 'debug' } })),
  );
  const proc = spawnTracked(
    process.execPath,
    [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), '--import', 'tsx', 'loaders/main.ts'],
    { env: { ...process.env, HFT_CONFIG_FILE: configFile } },
  );
  await waitFor('ready', async () => proc.output().includes('loader ready'), { timeoutMs: 60_000 });
  const t0 = performance.now();
  cpSync(staging, scenario.walDir, { recursive: true });
  const ids = segments.map((s) => s.manifest.segmentId);
  await waitFor(
    'loaded',
    async () => (await scenario.store.states(ids)).every((s) => s === SegmentState.ARCHIVED),
    {
      timeoutMs: 600_000,
      intervalMs: 20,
    },
  );
  const wall = performance.now() - t0;
  proc.child.kill('SIGTERM');
  await proc.exited();
  const phases = proc
    .output()
    .split('\n')
    .filter((l) => l.includes('segment inserted and verified'))
    .map((l) => JSON.parse(l) as Record<string, number>);
  const sum = (k: string) => phases.reduce((n, p) => n + (p[k] ?? 0), 0);
  console.log(
    `wall ${wall.toFixed(0)} ms for ${segmentCount * records} rows; ${(((segmentCount * records) / wall) * 1000).toFixed(0)} rows/s`,
  );
  console.log(
    `loader phases summed over segments: checksum ${sum('checksum_ms')} ms, insert ${sum('insert_ms')} ms, verify ${sum('verify_ms')} ms`,
  );
  await clickhouse.query('SYSTEM FLUSH LOGS');
  console.log(
    await clickhouse.query(
      `SELECT type, count(), sum(query_duration_ms), max(query_duration_ms), sum(written_rows) FROM system.query_log WHERE query LIKE 'INSERT INTO wal_events%' AND type = 2 GROUP BY type FORMAT TSV`,
    ),
  );
  console.log(
    await clickhouse.query(
      `SELECT substring(query, 1, 40) q, count(), sum(query_duration_ms) FROM system.query_log WHERE type = 2 AND event_time > now() - 600 GROUP BY q ORDER BY 3 DESC LIMIT 8 FORMAT TSV`,
    ),
  );
  await scenario.close();
} finally {
  await Promise.all([redisServer.stop(), clickhouse.stop()]);
}
