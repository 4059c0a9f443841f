/**
 * Gateway benchmark: submit→decision through the whole decision path (IntentClient → Redis stream →
 * IntentConsumer → pipeline: ttl, risk, admit script, TcpBroker → venue-sim process, outcome script →
 * reply), side by side with the ceiling: raw EVALSHA of the admit script alone on the same Redis (through
 * ioredis, same concurrency). Every part runs in its own OS process, as in production: Redis, the
 * venue-sim, the gateway (bench/gateway/gateway-child.ts) and the submitters
 * (bench/gateway/submitter-child.ts), so the figure is the gateway's, not a CPU-starved single process's.
 * Rows:
 *
 *   - admit script alone, one intent per EVALSHA (the ceiling), closed loop at --concurrency, from this
 *     process; and the same with gateway.scriptBatchMax intents per EVALSHA, as the gateway sends them
 *   - full path, closed loop: --submitters processes sharing --concurrency (sustained throughput)
 *   - full path, open loop paced at each of --rates intents/s for --seconds, one submitter process
 *
 * Per row: Redis CPU per intent (INFO cpu), and for the full path the gateway's and the venue's CPU per
 * intent (/proc/<pid>/stat). The JSON line also carries the Redis command profile of the closed loop (µs
 * of Redis CPU and calls per intent, by command, from INFO commandstats; commands run inside scripts are
 * counted too) and the 1-minute load average.
 *
 *   npx tsx bench/gateway/run.ts [--count=20000] [--concurrency=256] [--submitters=2]
 *                                [--rates=1000,5000] [--seconds=5] [--profile=<dir>] [--batch-max=32]
 *                                [--trace=<dir>]
 *
 * --trace=<dir>: the paced intents' stage timestamps (submit → enqueued → read by the gateway → admitted →
 * venue ack → outcome recorded → reply read), written by the processes there and printed as a table of
 * steps per rate (bench/gateway/stage-report.ts, src/channel/stage-trace.ts).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import type { Redis } from 'ioredis';
import { IntentClient } from '../../src/channel/intent-client.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { GatewayStore } from '../../src/gateway/gateway-store.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { newIntent } from '../../test/fixtures/intents.js';
import { type Spawned, spawnTracked, waitFor } from '../../test/harness/process.js';
import { admitAll, benchAdmitRequest } from './admit-request.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { VenueSim } from '../../test/harness/venue-sim.js';
import { argInt, latencyHistogram, report } from '../lib/report.js';
import { stageReport } from './stage-report.js';

const count = argInt('count', 20_000);
const concurrency = argInt('concurrency', 256);
const submitters = argInt('submitters', 2);
const seconds = argInt('seconds', 5);
/** gateway.scriptBatchMax for the gateway under test (1 = one intent per admit/outcome call). */
const batchMaxArg = argInt('batch-max', 32);
const rates = (process.argv.find((a) => a.startsWith('--rates='))?.split('=')[1] ?? '1000,5000')
  .split(',')
  .map(Number);
/** --profile=<dir>: the gateway and submitter processes write V8 CPU profiles there (node --cpu-prof). */
const profileDir = process.argv.find((a) => a.startsWith('--profile='))?.split('=')[1];
const traceDir = process.argv.find((a) => a.startsWith('--trace='))?.split('=')[1];
if (traceDir) {
  mkdirSync(traceDir, { recursive: true });
  for (const f of readdirSync(traceDir)) if (f.endsWith('.jsonl')) rmSync(join(traceDir, f));
}
const HERE = fileURLToPath(new URL('.', import.meta.url));
/** Intents each submitter process sends before it measures (its JIT, connection, script cache). */
const WARMUP = 500;

type Row = {
  perSec: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  redis_cpu_us?: number;
  gateway_cpu_us?: number;
  venue_cpu_us?: number;
  submitter_cpu_us?: number;
  submitter_wait_us?: number;
};

/** user + system CPU of a process in µs, from /proc (Linux). */
function processCpuUs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

/**
 * µs the process's main thread spent runnable but waiting for a CPU (/proc/<pid>/schedstat, Linux): what
 * a hop of the path waits when the cores are busy, as opposed to a timer or a blocking read's wait.
 */
function processRunqueueWaitUs(pid: number | undefined | 'self'): number {
  if (pid === undefined) return 0;
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1_000;
  } catch {
    return 0;
  }
}

async function redisInfo(redis: Redis, section: string): Promise<string> {
  return redis.info(section);
}

function redisCpuUs(info: string): number {
  const get = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return Math.round((get('used_cpu_user') + get('used_cpu_sys')) * 1e6);
}

/** INFO commandstats → usec per command, and calls per command under `<name>#calls`. */
function commandUsec(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/g)) {
    out.set(m[1] as string, Number(m[3]));
    out.set(`${m[1]}#calls`, Number(m[2]));
  }
  return out;
}

/** Runs a phase and adds the CPU it cost per decided intent (n minus shed): Redis, each process named. */
async function measured(
  redis: Redis,
  offered: number,
  pids: Record<string, number | undefined>,
  phase: () => Promise<Row & { shed?: number }>,
): Promise<{ row: Row; commands: Record<string, number> }> {
  const [cpu0, cmd0] = [
    redisCpuUs(await redisInfo(redis, 'cpu')),
    commandUsec(await redisInfo(redis, 'commandstats')),
  ];
  const proc0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuUs(pid)]));
  const wait0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processRunqueueWaitUs(pid)]));
  const row = await phase();
  const n = Math.max(1, offered - (row.shed ?? 0));
  const [cpu1, cmd1] = [
    redisCpuUs(await redisInfo(redis, 'cpu')),
    commandUsec(await redisInfo(redis, 'commandstats')),
  ];
  const perIntent = (us: number) => Math.round((us / n) * 10) / 10;
  const extra: Record<string, number> = { redis_cpu_us: perIntent(cpu1 - cpu0) };
  for (const [k, pid] of Object.entries(pids)) {
    if (k !== 'redis') extra[`${k}_cpu_us`] = perIntent(processCpuUs(pid) - (proc0[k] ?? 0));
    extra[`${k}_wait_us`] = perIntent(processRunqueueWaitUs(pid) - (wait0[k] ?? 0));
  }
  const commands: Record<string, number> = {};
  for (const [name, value] of cmd1) {
    const d = value - (cmd0.get(name) ?? 0);
    if (d > 0 && !name.startsWith('info')) {
      commands[name] = name.endsWith('#calls') ? Math.round((d / n) * 100) / 100 : perIntent(d);
    }
  }
  return { row: { ...row, ...extra }, commands };
}

/**
 * The admit script alone, closed loop, `perCall` intents per EVALSHA: 1 is the ceiling the issue names
 * (raw EVALSHA of the admit script per intent); the gateway batches (gateway.scriptBatchMax), so the
 * batched row is shown too. Workers: --concurrency intents in flight in all.
 */
async function ceiling(config: Readonly<Config>, perCall: number): Promise<Row> {
  const redis = await connectRedis({ url: config.redis.stateUrl, name: 'bench-ceiling' });
  const scripts = new Scripts();
  scripts.register(redis);
  const keys = new Keyspace(config.redis.keyPrefix);
  const permit = await FixedEpochPermit.acquire(redis, keys);
  const store = new GatewayStore(redis, scripts, keys, config.channel.decisionTtlMs);
  const batch = Array.from({ length: count }, (_, i) =>
    IntentClient.envelope(
      newIntent(i, {
        qty: 1,
        price: 1_000_000,
        symbol: `B${i % 50}`,
        strategy_id: `strat-${i % 8}`,
        ttl_ms: 60_000,
      }),
    ),
  );
  const coids = batch.map((e) => deriveClientOrderId(e.idempotency_key));
  const histogram = latencyHistogram();
  const started = performance.now();
  await admitAll(
    store,
    count,
    concurrency,
    perCall,
    (i) => benchAdmitRequest(batch[i] as IntentEnvelope, coids[i] as string, permit.epoch),
    (ms) => histogram.recordValue(Math.max(1, Math.round(ms * 1_000))),
  );
  const elapsed = (performance.now() - started) / 1_000;
  await redis.flushall();
  redis.disconnect();
  return {
    perSec: Math.round(count / elapsed),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    max_us: histogram.maxValue,
  };
}

interface SubmitterResult {
  count: number;
  startMs: number;
  endMs: number;
  rejected: number;
  shed: number;
  cpuUs: number;
  waitUs: number;
  histogram: string;
}

let tagSerial = 0;
/** Runs `processes` submitter processes at once and adds their results up. */
async function submit(
  config: Readonly<Config>,
  processes: number,
  opts: {
    mode: 'closed' | 'paced';
    count: number;
    concurrency: number;
    rate: number;
    warmup: number;
    traceFile?: string;
  },
): Promise<Row & { rejected: number; shed: number }> {
  const children: Spawned[] = Array.from({ length: processes }, () =>
    spawnTracked(process.execPath, [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--import',
      'tsx',
      join(HERE, 'submitter-child.ts'),
      JSON.stringify({
        redisUrl: config.redis.stateUrl,
        keyPrefix: config.redis.keyPrefix,
        channel: config.channel,
        tag: `s${tagSerial++}`,
        ...opts,
      }),
    ]),
  );
  const codes = await Promise.all(children.map((c) => c.exited()));
  if (codes.some((c) => c !== 0))
    throw new Error(`submitter failed: ${children.map((c) => c.output()).join('\n')}`);
  const results = children.map(
    (c) =>
      JSON.parse(
        c
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{"tag"'))
          .pop() ?? '{}',
      ) as SubmitterResult,
  );
  const histogram = latencyHistogram();
  for (const r of results) histogram.add(hdr.decodeFromCompressedBase64(r.histogram));
  const total = results.reduce((s, r) => s + r.count, 0);
  const span = Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs));
  return {
    perSec: Math.round(total / (span / 1_000)),
    p50_us: histogram.getValueAtPercentile(50),
    p99_us: histogram.getValueAtPercentile(99),
    max_us: histogram.maxValue,
    submitter_cpu_us: Math.round((results.reduce((s, r) => s + r.cpuUs, 0) / total) * 10) / 10,
    submitter_wait_us: Math.round((results.reduce((s, r) => s + r.waitUs, 0) / total) * 10) / 10,
    rejected: results.reduce((s, r) => s + r.rejected, 0),
    shed: results.reduce((s, r) => s + r.shed, 0),
  };
}

const [server, sim] = await Promise.all([
  RedisServer.start({ aof: false }),
  VenueSim.start({ fillMode: 'none' }),
]);
let gatewayProc: Spawned | undefined;
try {
  const input: ConfigInput = {
    processId: 'gw-bench',
    redis: { stateUrl: server.url },
    log: { level: 'warn' },
    broker: { host: sim.host, port: sim.orderPort },
    channel: {
      inFlightMax: Math.max(concurrency, 4_096),
      attemptTimeoutMs: 30_000,
      readCount: 512,
      blockMs: 20,
    },
    risk: {
      rejectWithoutReference: false,
      throttle: {
        perStrategy: { ratePerSec: 10_000_000, burst: 10_000_000 },
        global: { ratePerSec: 10_000_000, burst: 10_000_000 },
      },
    },
    exposure: { defaults: { symbolNotional: 1e15, strategyNotional: 1e15, accountNotional: 1e15 } },
    gateway: { scriptBatchMax: batchMaxArg },
  };
  const config = loadConfig({ overrides: input });
  const probe = await connectRedis({ url: server.url, name: 'bench-probe' });
  const admitOnly = await measured(probe, count, {}, () => ceiling(config, 1));
  const batchMax = config.gateway.scriptBatchMax;
  const admitBatched = await measured(probe, count, {}, () => ceiling(config, batchMax));

  const gw = spawnTracked(process.execPath, [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    '--import',
    'tsx',
    join(HERE, 'gateway-child.ts'),
    JSON.stringify(input),
    ...(traceDir ? [join(traceDir, 'gateway.jsonl')] : []),
  ]);
  gatewayProc = gw;
  await waitFor('gateway child ready', async () => {
    if (gw.child.exitCode !== null) throw new Error(`gateway exited: ${gw.output()}`);
    return gw.output().includes('{"ready":true}');
  });
  const redisPid = Number(/process_id:(\d+)/.exec(await redisInfo(probe, 'server'))?.[1]);
  const pids = { gateway: gw.child.pid, venue: sim.pid, redis: redisPid };
  let rejected = 0;
  // Warm-up: the gateway's JIT, connections and script cache.
  await submit(config, 1, { mode: 'closed', count: 2_000, concurrency, rate: 0, warmup: 0 });
  // Each submitter process warms up with WARMUP intents inside the phase: CPU is per intent decided.
  const perSubmitter = Math.ceil(count / submitters);
  const closed = await measured(probe, (perSubmitter + WARMUP) * submitters, pids, async () => {
    const r = await submit(config, submitters, {
      mode: 'closed',
      count: perSubmitter,
      concurrency: Math.ceil(concurrency / submitters),
      rate: 0,
      warmup: WARMUP,
    });
    rejected += r.rejected;
    return r;
  });
  const paced: { rate: number; row: Row; shed: number }[] = [];
  for (const rate of rates) {
    const n = rate * seconds;
    const { row } = await measured(probe, n + WARMUP, pids, async () => {
      const traceFile = traceDir ? join(traceDir, `paced-${rate}.jsonl`) : undefined;
      const r = await submit(config, 1, {
        mode: 'paced',
        count: n,
        concurrency,
        rate,
        warmup: WARMUP,
        ...(traceFile ? { traceFile } : {}),
      });
      rejected += r.rejected;
      paced.push({ rate, row: r, shed: r.shed });
      return r;
    });
    (paced[paced.length - 1] as { row: Row }).row = row;
  }
  const venue = await sim.counters();
  probe.disconnect();

  /**
   * Closed-loop CPU per intent of each process over Redis's in the same run. Redis does the same work per
   * intent whatever the Node code, and on a shared machine every process's CPU per intent swings with the
   * load (docs/gateway.md, "Node-side CPU per intent"), so comparing these ratios between alternated runs
   * cancels most of the machine's state.
   */
  function relativeToRedis(row: Row): Record<string, number> | undefined {
    const redis = row.redis_cpu_us;
    if (!redis) return undefined;
    const of = (us: number | undefined) => Number(((us ?? 0) / redis).toFixed(3));
    return {
      gateway: of(row.gateway_cpu_us),
      submitters: of(row.submitter_cpu_us),
      venue: of(row.venue_cpu_us),
    };
  }

  const ratio = closed.row.perSec / admitOnly.row.perSec;
  const at5k = paced.find((p) => p.rate === 5_000)?.row;
  report(
    'gateway',
    [
      { name: 'admit script alone, 1 intent/call (EVALSHA ceiling)', ...admitOnly.row },
      { name: `admit script alone, ${batchMax} intents/call`, ...admitBatched.row },
      { name: `full path, closed loop, ${submitters} submitters, c=${concurrency}`, ...closed.row },
      ...paced.map((p) => ({ name: `full path, paced ${p.rate}/s`, ...p.row })),
    ],
    {
      count,
      concurrency,
      submitters,
      rates,
      seconds,
      ratio_to_ceiling: Number(ratio.toFixed(3)),
      ratio_to_batched_ceiling: Number((closed.row.perSec / admitBatched.row.perSec).toFixed(3)),
      script_batch_max: batchMax,
      rejected,
      shed_paced: paced.reduce((s, p) => s + p.shed, 0),
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      venue_orders: venue.accepted,
      venue_duplicates: venue.duplicateAttempts,
      redis_us_per_intent_by_command: closed.commands,
      cpu_relative_to_redis: relativeToRedis(closed.row),
      goal: { intents_per_sec: 20_000, p99_us_at_5k: 2_000 },
    },
  );
  for (const p of paced) {
    if (p.shed > 0) console.log(`paced ${p.rate}/s shed ${p.shed} intents: the gateway did not keep up`);
  }
  console.log(
    `full path / ceiling: ${(ratio * 100).toFixed(1)}% · sustained ${closed.row.perSec}/s (goal 20000/s) · ` +
      `p99 at 5000/s ${at5k?.p99_us ?? 'n/a'} µs (goal 2000 µs)`,
  );
} finally {
  gatewayProc?.child.kill('SIGTERM');
  await gatewayProc?.exited();
  await Promise.all([server.stop(), sim.stop()]);
}
if (traceDir) stageReport(traceDir, rates);
process.exit(0);
