import { Redis } from 'ioredis';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StatusBoard } from '../ha/status-board.js';
import { OperatorContext } from '../src/cli/operator-context.js';
import { loadConfig } from '../src/config/load.js';
import { Keyspace } from '../src/keys.js';
import { type Spawned, freePort, spawnTs, tempDir, waitFor } from '../test/harness/process.js';
import { FeedSimProc } from '../test/harness/feed-sim.js';
import { RedisServer } from '../test/harness/redis-server.js';
import { VenueSim } from '../test/harness/venue-sim.js';
import type { ExposureLimits } from './exposure-check.js';
import type { WorkerReport } from './strategy-worker.js';
import { CLUSTER_SYMBOLS, WORKER_PRICE_TEXT } from './symbols.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const GATEWAY_MAIN = join(ROOT, 'src', 'gateway', 'main.ts');
const WORKER_MAIN = join(ROOT, 'chaos', 'strategy-worker.ts');

export const KEY_PREFIX = '{hft}';
export const ADMIN_TOKEN = 'local-cluster-admin-token';

export interface ClusterOptions {
  readonly leaseNodes: number;
  readonly gateways: number;
  readonly workers: number;
  /** Intents per second per strategy worker. */
  readonly ratePerWorker: number;
  readonly ttlMs?: number;
  /** Account notional limit (scaled, each side); symbol and strategy limits equal it unless `limits` is set. */
  readonly accountNotional?: number;
  /** Exposure limits of every gateway (overrides accountNotional). */
  readonly limits?: ExposureLimits;
  /** StormGuard overrides (`policy` section); gateway defaults when unset. */
  readonly stormGuard?: { readonly rejectStormPerMille?: number; readonly minSamples?: number };
  /** Per worker (by index): share of BUY intents in per mille; 500 (alternating) when unset. */
  readonly buyPerMille?: readonly number[];
  readonly logLevel?: string;
  /**
   * Quotes per second from a feed simulator process that every gateway subscribes to (src/quotes): the
   * price collar then runs on live reference prices and an intent without one is rejected, as in
   * production. Unset: no feed, and the gateways admit without a reference (risk.rejectWithoutReference off).
   */
  readonly quoteRate?: number;
}

/** ±3 % daily band: the feed's walk stays inside the default ±5 % collar around the workers' 580.5. */
const FEED_LIMIT_BPS = 300;

/** Limits every gateway of the local cluster runs with (the invariant checker reads the same numbers). */
export function clusterLimits(opts: ClusterOptions): ExposureLimits {
  if (opts.limits) return opts.limits;
  const account = opts.accountNotional ?? 2_000_000_000_000;
  return { symbolNotional: account, strategyNotional: account, accountNotional: account };
}

/** One gateway process of the cluster (src/gateway/main.ts in HA mode) with a fixed ops port. */
export class GatewayNode {
  private proc: Spawned | undefined;
  private stopped = false;

  constructor(
    readonly id: string,
    readonly opsPort: number,
    private readonly env: Record<string, string>,
  ) {}

  get opsUrl(): string {
    return `http://127.0.0.1:${this.opsPort}`;
  }
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }
  get running(): boolean {
    return (
      this.proc !== undefined && this.proc.child.exitCode === null && this.proc.child.signalCode === null
    );
  }
  get paused(): boolean {
    return this.stopped;
  }

  async start(): Promise<void> {
    const proc = spawnTs(GATEWAY_MAIN, [], { env: { ...process.env, ...this.env } });
    this.proc = proc;
    this.stopped = false;
    await waitFor(
      `${this.id} ready log`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`${this.id} exited: ${proc.output().slice(-4000)}`);
        return proc.output().includes('"event":"gateway.ready"');
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(`${this.opsUrl}/health/ready`, { signal: AbortSignal.timeout(500) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  async kill(): Promise<void> {
    if (!this.proc || !this.running) return;
    if (this.stopped) this.proc.child.kill('SIGCONT');
    this.proc.child.kill('SIGKILL');
    await this.proc.exited();
  }

  pause(): void {
    this.proc?.child.kill('SIGSTOP');
    this.stopped = true;
  }

  resume(): void {
    this.proc?.child.kill('SIGCONT');
    this.stopped = false;
  }

  async stop(): Promise<void> {
    if (!this.proc || !this.running) return;
    if (this.stopped) this.resume();
    this.proc.child.kill('SIGTERM');
    const exited = await Promise.race([
      this.proc.exited().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
    ]);
    if (!exited) await this.kill();
  }
}

/** One strategy worker process submitting continuously through the intent channel. */
export class WorkerNode {
  private proc: Spawned | undefined;

  constructor(
    readonly id: string,
    private readonly args: string,
    readonly reportFile: string,
  ) {}

  /** Resolves once the worker is connected to the state Redis and about to submit. */
  async start(): Promise<void> {
    const proc = spawnTs(WORKER_MAIN, [this.args]);
    this.proc = proc;
    await waitFor(
      `${this.id} ready`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`${this.id} exited: ${proc.output().slice(-2000)}`);
        return proc.output().includes('"event":"worker.ready"');
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
  }

  /** Latest stats line the worker printed. */
  stats(): Partial<WorkerReport['stats']> {
    const lines = (this.proc?.output() ?? '').split('\n').filter((l) => l.includes('"worker.stats"'));
    const last = lines[lines.length - 1];
    return last ? (JSON.parse(last) as { stats: WorkerReport['stats'] }).stats : {};
  }

  /** SIGTERM: stop submitting, settle outstanding intents, write the report. */
  async finish(): Promise<WorkerReport> {
    const proc = this.proc;
    if (!proc) throw new Error('worker not started');
    proc.child.kill('SIGTERM');
    await proc.exited();
    const { readFileSync } = await import('node:fs');
    try {
      return JSON.parse(readFileSync(this.reportFile, 'utf8')) as WorkerReport;
    } catch (err) {
      throw new Error(`worker ${this.id} wrote no report: ${proc.output().slice(-2000)}`, { cause: err });
    }
  }
}

/**
 * The local cluster: lease nodes, state Redis (AOF), venue-sim, gateways in HA mode, strategy workers.
 * The same class backs `npm run cluster` (scripts/cluster.ts) and the chaos scenarios (chaos/run.ts).
 */
export class Cluster {
  readonly keys = new Keyspace(KEY_PREFIX);
  readonly board: StatusBoard;
  readonly workers: WorkerNode[] = [];

  private constructor(
    readonly opts: ClusterOptions,
    readonly leaseNodes: RedisServer[],
    readonly state: RedisServer,
    readonly venue: VenueSim,
    readonly feed: FeedSimProc | undefined,
    readonly gateways: GatewayNode[],
    readonly redis: Redis,
  ) {
    this.board = new StatusBoard(redis, this.keys, 10_000);
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const [leaseNodes, state, venue, feed] = await Promise.all([
      Promise.all(Array.from({ length: opts.leaseNodes }, () => RedisServer.start())),
      RedisServer.start({ aof: true }),
      VenueSim.start({ fillMode: 'immediate' }),
      opts.quoteRate
        ? FeedSimProc.start({
            symbols: CLUSTER_SYMBOLS.map((s) => `${s}@${WORKER_PRICE_TEXT}`),
            rate: opts.quoteRate,
            limitBps: FEED_LIMIT_BPS,
          })
        : undefined,
    ]);
    const redis = new Redis(state.url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    redis.on('error', () => {});
    await redis.connect();
    const workDir = tempDir('cluster');
    const gateways: GatewayNode[] = [];
    for (let i = 1; i <= opts.gateways; i += 1) {
      const id = `gw-${i}`;
      const port = await freePort();
      gateways.push(
        new GatewayNode(
          id,
          port,
          gatewayEnv(opts, id, port, { leaseNodes, state, venue, feed }, join(workDir, 'wal')),
        ),
      );
    }
    const cluster = new Cluster(opts, leaseNodes, state, venue, feed, gateways, redis);
    await Promise.all(gateways.map((g) => g.start()));
    await cluster.waitForLeader();
    for (let i = 1; i <= opts.workers; i += 1) {
      const id = `strat-${i}`;
      const worker = new WorkerNode(
        id,
        workerArgs(opts, id, opts.buyPerMille?.[i - 1] ?? 500, state, join(workDir, `${id}.json`)),
        join(workDir, `${id}.json`),
      );
      cluster.workers.push(worker);
    }
    await Promise.all(cluster.workers.map((w) => w.start()));
    return cluster;
  }

  /** The gateway whose /health/ready says it may dispatch (exactly one when healthy). */
  async leaders(): Promise<GatewayNode[]> {
    const ready = await Promise.all(
      this.gateways.map(async (g) => (g.running && !g.paused ? g.ready() : false)),
    );
    return this.gateways.filter((_, i) => ready[i]);
  }

  async waitForLeader(timeoutMs = 30_000): Promise<GatewayNode> {
    return waitFor(
      'a ready leader',
      async () => {
        const leaders = await this.leaders();
        return leaders.length === 1 ? leaders[0] : undefined;
      },
      { timeoutMs, intervalMs: 10 },
    );
  }

  async currentEpoch(): Promise<number> {
    return Number((await this.redis.get(this.keys.epoch()).catch(() => '0')) ?? 0);
  }

  /** Operator action (as `hft policy resume`): leave HALT/DEGRADED once the fault is gone. */
  async operatorResume(reason: string): Promise<void> {
    const ctx = await OperatorContext.open(
      loadConfig({ overrides: { redis: { stateUrl: this.state.url, keyPrefix: KEY_PREFIX } } }),
    );
    try {
      await ctx.setPolicy('NORMAL', reason, 'chaos');
    } finally {
      ctx.close();
    }
  }

  async finishWorkers(): Promise<WorkerReport[]> {
    return Promise.all(this.workers.map((w) => w.finish()));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.finish()));
    await Promise.allSettled(this.gateways.map((g) => g.stop()));
    this.redis.disconnect();
    await Promise.allSettled([...this.leaseNodes, this.state].map((r) => r.stop()));
    await Promise.allSettled([this.venue.stop(), this.feed?.stop()]);
  }
}

function gatewayEnv(
  opts: ClusterOptions,
  id: string,
  opsPort: number,
  peers: { leaseNodes: RedisServer[]; state: RedisServer; venue: VenueSim; feed: FeedSimProc | undefined },
  walDir: string,
): Record<string, string> {
  const { leaseNodes, state, venue, feed } = peers;
  const { symbols, ...defaults } = clusterLimits(opts);
  return {
    HFT__PROCESS_ID: id,
    HFT__WAL__DIR: walDir,
    HFT__LOG__LEVEL: opts.logLevel ?? 'info',
    HFT__REDIS__STATE_URL: state.url,
    HFT__REDIS__KEY_PREFIX: KEY_PREFIX,
    HFT__BROKER__HOST: venue.host,
    HFT__BROKER__PORT: String(venue.orderPort),
    HFT__BROKER__REQUEST_TIMEOUT_MS: '500',
    HFT__OPS__PORT: String(opsPort),
    HFT__OPS__ADMIN_TOKEN: ADMIN_TOKEN,
    HFT__RISK__REJECT_WITHOUT_REFERENCE: feed ? 'true' : 'false',
    ...(feed
      ? {
          HFT__QUOTES__FEED__ENABLED: 'true',
          HFT__QUOTES__FEED__PORT: String(feed.port),
          HFT__QUOTES__SYMBOLS: JSON.stringify(CLUSTER_SYMBOLS),
        }
      : {}),
    HFT__RISK__THROTTLE: JSON.stringify({
      perStrategy: { ratePerSec: 1_000_000, burst: 1_000_000 },
      global: { ratePerSec: 1_000_000, burst: 1_000_000 },
    }),
    HFT__EXPOSURE__DEFAULTS: JSON.stringify(defaults),
    ...(symbols ? { HFT__EXPOSURE__SYMBOLS: JSON.stringify(symbols) } : {}),
    HFT__CHANNEL__BLOCK_MS: '50',
    HFT__CHANNEL__CLAIM_IDLE_MS: '300',
    HFT__CHANNEL__CLAIM_INTERVAL_MS: '50',
    HFT__GATEWAY__RECONCILE_MIN_AGE_MS: '1000',
    HFT__GATEWAY__RECONCILE_INTERVAL_MS: '200',
    // This 2-core box stalls for tens of ms under chaos load; the default Redis-latency trip (20 ms) would
    // hold the cluster in DEGRADED for reasons unrelated to the faults injected. Outage trips stay default.
    HFT__POLICY__REDIS_SLOW_NS: '250000000',
    HFT__POLICY__BROKER_SLOW_NS: '500000000',
    // The reject-storm trip stays at its default except where a scenario presses the exposure limits on
    // purpose (chaos/scenarios.ts, exposure-limits, says why).
    ...(opts.stormGuard?.rejectStormPerMille
      ? { HFT__POLICY__REJECT_STORM_PER_MILLE: String(opts.stormGuard.rejectStormPerMille) }
      : {}),
    ...(opts.stormGuard?.minSamples ? { HFT__POLICY__MIN_SAMPLES: String(opts.stormGuard.minSamples) } : {}),
    HFT__HA__ENABLED: 'true',
    HFT__HA__LEASE_NODES: JSON.stringify(leaseNodes.map((n) => n.url)),
    ...(opts.ttlMs ? { HFT__HA__TTL_MS: String(opts.ttlMs) } : {}),
  };
}

function workerArgs(
  opts: ClusterOptions,
  id: string,
  buyPerMille: number,
  state: RedisServer,
  reportFile: string,
): string {
  return JSON.stringify({
    id,
    redisUrl: state.url,
    keyPrefix: KEY_PREFIX,
    ratePerSec: opts.ratePerWorker,
    buyPerMille,
    reportFile,
  });
}
