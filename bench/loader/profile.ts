/**
 * Profiling aid for the one-loader case (not a benchmark): runs one loader process with
 * `--cpu-prof` and each segment's timeline (per-segment phase timings), ClickHouse query_log on, then prints where the
 * time went: the loader's phase timings, ClickHouse's own INSERT durations, wall time, and the CPU time
 * each process used per row (from /proc: unlike wall time, it hardly depends on what else the shared
 * machine runs), next to the CPU ClickHouse needs per row for a direct insert of the same files.
 *
 * `--pin` (bench/loader/pin.ts): ClickHouse on CPU 0, Redis, this process (the direct insert's sender) and
 * the loader on CPU 1, as if ClickHouse had its own host; then also prints the pinned model (each side
 * limited by its busier core).
 *
 *   npx tsx bench/loader/profile.ts [--segments=12] [--records=50000] [--prof-dir=/tmp/lprof] [--pin]
 */
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { SegmentState } from '../../loaders/segment-state-store.js';
import { ClickHouseServer } from '../../test/harness/clickhouse-server.js';
import { spawnTracked, tempDir, waitFor } from '../../test/harness/process.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { writeBacklog } from '../../test/loaders/fixtures.js';
import { LoaderScenario } from '../../test/loaders/loader-env.js';
import { argInt } from '../lib/report.js';
import { postFile } from './direct-insert.js';
import { CLICKHOUSE_CPU, CLIENT_CPU, checkAffinity, pidOf, pin } from './pin.js';

const segmentCount = argInt('segments', 12);
const records = argInt('records', 50_000);
const profDir = process.argv.find((a) => a.startsWith('--prof-dir='))?.split('=')[1];

const [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
const clickhousePid = pidOf(clickhouse);
const pinned = process.argv.includes('--pin');
const pinnedPids = { clickhouse: clickhousePid, redis: pidOf(redisServer), bench: process.pid };
const expectedCpu = { clickhouse: CLICKHOUSE_CPU, redis: CLIENT_CPU, bench: CLIENT_CPU };
if (pinned) {
  pin(process.pid, CLIENT_CPU); // first: the loader spawned later inherits it
  pin(pinnedPids.redis, CLIENT_CPU);
  pin(clickhousePid, CLICKHOUSE_CPU);
}
checkAffinity('at start', pinnedPids, pinned ? expectedCpu : undefined);

/** CPU time (user, system; all threads) a process has used so far, in ms. */
function cpuSplitMs(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 }; // USER_HZ (100/s) ticks
}

function cpuMs(pid: number): number {
  const { user, system } = cpuSplitMs(pid);
  return user + system;
}

/**
 * ClickHouse's CPU so far, once it has settled: after a run of INSERTs it keeps working for up to ~1 s
 * after the last one returned (140–560 ms for 24 segments, merges stopped or not), work those INSERTs
 * caused. Counting it for both the direct insert and the loader keeps the comparison fair.
 */
async function settledCpuMs(pid: number): Promise<number> {
  let prev = cpuMs(pid);
  for (let i = 0; i < 40; i += 1) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpuMs(pid);
    if (now - prev <= 10) return now;
    prev = now;
  }
  return prev;
}

/** CPU per row (µs) of ClickHouse and of the sender (this process) for a direct insert of the files ×2. */
async function direct(segmentPaths: string[]): Promise<{ clickhouse: number; sender: number }> {
  await clickhouse.query('CREATE DATABASE IF NOT EXISTS prof_direct');
  await clickhouse.query(
    readFileSync('loaders/migrations/0001_wal_events.sql', 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n')
      .replace('CREATE TABLE IF NOT EXISTS wal_events', 'CREATE TABLE prof_direct.wal_events')
      .replace(/;\s*$/, ''),
  );
  const ch0 = cpuMs(clickhousePid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < segmentPaths.length) {
        await postFile(clickhouse.url, 'prof_direct', segmentPaths[next++] as string);
      }
    }),
  );
  const wall = performance.now() - t0;
  const rows = segmentCount * records;
  const self = process.cpuUsage(self0);
  const result = {
    clickhouse: (((await settledCpuMs(clickhousePid)) - ch0) * 1_000) / rows,
    // The sender (run.ts's, reading and sending the files) runs on the same two cores as ClickHouse.
    sender: (self.user + self.system) / rows,
  };
  console.log(
    `direct insert ×2: wall ${wall.toFixed(0)} ms, clickhouse cpu ${result.clickhouse.toFixed(2)} µs/row (settled), sender cpu ${result.sender.toFixed(2)} µs/row`,
  );
  return result;
}

try {
  const users = join(clickhouse.dir, 'users.xml');
  writeFileSync(
    users,
    readFileSync(users, 'utf8').replace('<default>', '<default><log_queries>1</log_queries>'),
  );
  await new Promise((r) => setTimeout(r, 3_000)); // users.xml is reloaded periodically
  // --stop-merges: no background merges during the whole run, so neither window pays for merging parts
  // (the direct insert's or the loader's): each side's CPU is then its INSERTs (and the loader's checks).
  if (process.argv.includes('--stop-merges')) {
    await waitFor('stop merges', async () => (await clickhouse.query('SYSTEM STOP MERGES')) === '');
  }
  const staging = tempDir('prof-stage');
  const segments = writeBacklog(staging, { segments: segmentCount, recordsPerSegment: records });
  const directCpu = await direct(segments.map((s) => s.segmentPath));
  await new Promise((r) => setTimeout(r, 2_000)); // let merges of the direct insert settle
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
    JSON.stringify(scenario.config('prof', { loader: loaderOverrides, log: { level: 'info' } })),
  );
  const proc = spawnTracked(
    process.execPath,
    [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), '--import', 'tsx', 'loaders/main.ts'],
    { env: { ...process.env, HFT_CONFIG_FILE: configFile } },
  );
  await waitFor('ready', async () => proc.output().includes('loader ready'), { timeoutMs: 60_000 });
  const pid = proc.child.pid as number;
  const redisPid = pinnedPids.redis;
  // What the loader burns with nothing to load (scheduler scans, BullMQ polling, lease timers): 2 s idle.
  const idle0 = cpuMs(pid);
  await new Promise((r) => setTimeout(r, 2_000));
  const idleMsPerS = (cpuMs(pid) - idle0) / 2;
  const split0 = cpuSplitMs(pid);
  const loader0 = cpuMs(pid);
  const ch0 = cpuMs(clickhousePid);
  const redis0 = cpuMs(redisPid);
  const stage = `${scenario.walDir}.stage`;
  cpSync(staging, stage, { recursive: true });
  const t0 = performance.now();
  // Segment files first, manifests last (a manifest is what makes a segment visible to the scheduler).
  for (const suffix of ['.seg', '.manifest.json']) {
    for (const s of segments) {
      const rel = relative(staging, suffix === '.seg' ? s.segmentPath : s.manifestPath);
      mkdirSync(dirname(join(scenario.walDir, rel)), { recursive: true });
      renameSync(join(stage, rel), join(scenario.walDir, rel));
    }
  }
  rmSync(stage, { recursive: true, force: true }); // only empty dirs are left there (not a temp dir)
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
  const rows = segmentCount * records;
  const perRow = (ms: number) => ((ms * 1_000) / rows).toFixed(2);
  const split = cpuSplitMs(pid);
  const redis1 = cpuMs(redisPid);
  const loaderCpu = ((cpuMs(pid) - loader0) * 1_000) / rows;
  const chCpu = (((await settledCpuMs(clickhousePid)) - ch0) * 1_000) / rows;
  const redisCpu = ((redis1 - redis0) * 1_000) / rows;
  // On two cores kept busy, rows/s follows total CPU per row: the ratio one loader would reach against
  // the direct insert if nothing else ran on the machine (merges inside each window included).
  console.log(
    `cpu model: direct ${(directCpu.clickhouse + directCpu.sender).toFixed(2)} µs/row (clickhouse + sender), loader path ${(chCpu + loaderCpu + redisCpu).toFixed(2)} (clickhouse + loader + redis ${redisCpu.toFixed(2)}), ratio ${((directCpu.clickhouse + directCpu.sender) / (chCpu + loaderCpu + redisCpu)).toFixed(2)}`,
  );
  if (pinned) {
    checkAffinity('after the load', { ...pinnedPids, loader: pid }, { ...expectedCpu, loader: CLIENT_CPU });
    // One core each: each side runs at the pace of its busier core (perfect overlap assumed).
    const directCore = Math.max(directCpu.clickhouse, directCpu.sender);
    const loaderCore = Math.max(chCpu, loaderCpu + redisCpu);
    console.log(
      `pinned model: direct max(clickhouse ${directCpu.clickhouse.toFixed(2)}, sender ${directCpu.sender.toFixed(2)}) µs/row, loader path max(clickhouse ${chCpu.toFixed(2)}, loader + redis ${(loaderCpu + redisCpu).toFixed(2)}), ratio ${(directCore / loaderCore).toFixed(2)}`,
    );
  }
  console.log(
    `1 loader: loader cpu ${loaderCpu.toFixed(2)} µs/row (user ${perRow(split.user - split0.user)}, system ${perRow(split.system - split0.system)}; idle ${idleMsPerS.toFixed(0)} ms/s = ${perRow((idleMsPerS * wall) / 1_000)} µs/row over this wall time), clickhouse cpu ${chCpu.toFixed(2)} µs/row (settled)`,
  );
  proc.child.kill('SIGTERM');
  await proc.exited();
  // Per-segment phases from each segment's timeline (loaders/load-timeline.ts), summed.
  const timelines = proc
    .output()
    .split('\n')
    .filter((l) => l.includes('"timeline"'))
    .map((l) => (JSON.parse(l) as { timeline: Record<string, number> }).timeline);
  const sum = (from: string, to: string) =>
    Math.round(timelines.reduce((n, t) => n + ((t[to] ?? 0) - (t[from] ?? 0)), 0));
  console.log(
    `wall ${wall.toFixed(0)} ms for ${segmentCount * records} rows; ${(((segmentCount * records) / wall) * 1000).toFixed(0)} rows/s`,
  );
  console.log(
    `loader phases summed over ${timelines.length} segments: pass 1 ${sum('claimed', 'pass1')} ms, insert ${sum('loading', 'inserted')} ms, landed check ${sum('inserted', 'verified')} ms`,
  );
  // query_log exists only once the server has logged a query (users.xml reload may not have happened yet).
  await clickhouse.query('SYSTEM FLUSH LOGS');
  if ((await clickhouse.query(`EXISTS TABLE system.query_log FORMAT TSV`)).trim() !== '1') {
    console.log('system.query_log not there yet: no ClickHouse INSERT durations this run');
  } else {
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
  }
  await scenario.close();
} finally {
  await Promise.all([redisServer.stop(), clickhouse.stop()]);
}
