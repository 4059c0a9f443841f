import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { ConfigInput } from '../../src/config/schema.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { SegmentState, SegmentStateStore } from '../../loaders/segment-state-store.js';
import type { ClickHouseServer } from '../harness/clickhouse-server.js';
import { type Spawned, spawnTs, tempDir, waitFor } from '../harness/process.js';
import type { RedisServer } from '../harness/redis-server.js';

export interface LoaderOverrides {
  loader?: ConfigInput['loader'];
  log?: ConfigInput['log'];
}

/**
 * One isolated loader scenario on shared servers: its own hash tag (so its own Redis keys and BullMQ
 * queue), its own ClickHouse database and its own WAL dir. Servers are started once per test file.
 */
export class LoaderScenario {
  readonly keyPrefix: string;
  readonly database: string;
  readonly walDir: string;
  readonly store: SegmentStateStore;
  private readonly loaders: Spawned[] = [];
  /** Each loader's ops address, read from its "loader ready" line (its output buffer is bounded). */
  private readonly opsOf = new Map<Spawned, string>();

  private constructor(
    readonly redisServer: RedisServer,
    readonly clickhouseServer: ClickHouseServer,
    readonly redis: Redis,
    readonly ch: ClickHouseClient,
    tag: string,
  ) {
    this.keyPrefix = `{${tag}}`;
    this.database = `t_${tag}`;
    this.walDir = tempDir('wal');
    this.store = new SegmentStateStore(redis, scriptsOn(redis), new Keyspace(this.keyPrefix));
  }

  static async create(redisServer: RedisServer, clickhouseServer: ClickHouseServer): Promise<LoaderScenario> {
    const redis = await connectRedis({ url: redisServer.url, name: 'loader-test', commandTimeoutMs: 10_000 });
    const ch = createClient({ url: clickhouseServer.url, request_timeout: 60_000 });
    return new LoaderScenario(redisServer, clickhouseServer, redis, ch, randomBytes(5).toString('hex'));
  }

  /** Config of a loader in this scenario; fast leases and stall detection so takeovers happen quickly. */
  config(loaderId: string, overrides: LoaderOverrides = {}): ConfigInput {
    return {
      processId: loaderId,
      redis: { stateUrl: this.redisServer.url, keyPrefix: this.keyPrefix, commandTimeoutMs: 5_000 },
      clickhouse: { url: this.clickhouseServer.url, database: this.database, requestTimeoutMs: 30_000 },
      ops: { port: 0 },
      log: { level: 'info', ...overrides.log },
      loader: {
        walDirs: [this.walDir],
        batchRows: 500,
        claimTtlMs: 2_000,
        jobLockMs: 2_000,
        stalledIntervalMs: 1_000,
        retryBaseMs: 100,
        retryMaxMs: 1_000,
        ...overrides.loader,
        scheduler: { scanIntervalMs: 200, rescueAfterMs: 5_000, ...overrides.loader?.scheduler },
      },
    };
  }

  /** Spawns `loaders/main.ts` as a real process with this config; resolves once it logged "loader ready". */
  async spawnLoader(loaderId: string, overrides: LoaderOverrides = {}): Promise<Spawned> {
    const file = join(tempDir('loader-config'), 'config.json');
    writeFileSync(file, JSON.stringify(this.config(loaderId, overrides)));
    const proc = spawnTs('loaders/main.ts', [], { env: { ...process.env, HFT_CONFIG_FILE: file } });
    this.loaders.push(proc);
    await waitFor(
      `${loaderId} ready`,
      async () => {
        if (proc.output().includes('"msg":"loader ready"')) return true;
        if (proc.child.exitCode !== null) throw new Error(`${loaderId} exited: ${proc.output()}`);
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const ops = /"ops":"(http:[^"]+)"/.exec(proc.output())?.[1];
    if (ops) this.opsOf.set(proc, ops);
    return proc;
  }

  /** Waits until every segment is ARCHIVED (or QUARANTINED when listed), loaders' output in the error. */
  async waitFinished(
    segmentIds: readonly string[],
    quarantined: readonly string[] = [],
    timeoutMs = 120_000,
  ): Promise<void> {
    const expected = segmentIds.map((id) =>
      quarantined.includes(id) ? SegmentState.QUARANTINED : SegmentState.ARCHIVED,
    );
    try {
      await waitFor(
        'segments finished',
        async () => {
          const states = await this.store.states(segmentIds);
          return states.every((s, i) => s === expected[i]);
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (err) {
      const states = await this.store.states(segmentIds);
      const pending = segmentIds
        .filter((_, i) => states[i] !== expected[i])
        .map((id, i) => `${id}=${states[i]}`);
      throw new Error(`${String(err)}; unfinished: ${pending.slice(0, 10).join(', ')}\n${this.outputs()}`);
    }
  }

  /** Operator replay through the runbook's command (loaders/replay-cli.ts); resolves to its output. */
  async replayCli(manifestPaths: string[], force: boolean): Promise<{ code: number | null; output: string }> {
    const file = join(tempDir('loader-config'), 'config.json');
    writeFileSync(file, JSON.stringify(this.config('operator')));
    const args = [...(force ? ['--force'] : []), ...manifestPaths];
    const proc = spawnTs('loaders/replay-cli.ts', args, { env: { ...process.env, HFT_CONFIG_FILE: file } });
    const code = await proc.exited();
    return { code, output: proc.output() };
  }

  /** Sum of one metric's samples on a loader's /metrics (its ops address is in its "loader ready" log). */
  async metric(proc: Spawned, name: string): Promise<number> {
    const ops = this.opsOf.get(proc);
    if (!ops) throw new Error('loader has not logged its ops address');
    const text = await (await fetch(`${ops}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** The sample lines of one metric on a loader's /metrics. */
  async metricLines(proc: Spawned, name: string): Promise<string[]> {
    const ops = this.opsOf.get(proc);
    if (!ops) throw new Error('loader has not logged its ops address');
    const text = await (await fetch(`${ops}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  }

  outputs(): string {
    return this.loaders.map((p, i) => `--- loader ${i} ---\n${p.output().slice(-4_000)}`).join('\n');
  }

  /** Raw rows, rows after FINAL, and distinct business keys in wal_events. */
  async counts(where = '1'): Promise<{ raw: number; final: number; distinct: number }> {
    const q = async (sql: string) => {
      const rs = await this.ch.query({ query: sql, format: 'JSONEachRow' });
      return Number(((await rs.json<{ n: string }>())[0] as { n: string }).n);
    };
    const table = `${this.database}.wal_events`;
    return {
      raw: await q(`SELECT count() AS n FROM ${table} WHERE ${where}`),
      final: await q(`SELECT count() AS n FROM ${table} FINAL WHERE ${where}`),
      distinct: await q(`SELECT uniqExact(topic, producer_id, seq) AS n FROM ${table} WHERE ${where}`),
    };
  }

  /** Business keys present (FINAL), as "producer/topic/seq" strings, for exact set comparisons. */
  async keys(): Promise<Set<string>> {
    const rs = await this.ch.query({
      query: `SELECT producer_id, topic, seq FROM ${this.database}.wal_events FINAL`,
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ producer_id: string; topic: string; seq: string | number }>();
    return new Set(rows.map((r) => `${r.producer_id}/${r.topic}/${Number(r.seq)}`));
  }

  async close(): Promise<void> {
    for (const p of this.loaders) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.loaders.map((p) => p.exited()));
    await this.ch.close();
    this.redis.disconnect();
  }
}

function scriptsOn(redis: Redis): Scripts {
  const scripts = new Scripts();
  scripts.register(redis);
  return scripts;
}

export function keysOf(
  segments: readonly { manifest: { producerId: string; topic: string }; seqs: readonly number[] }[],
): Set<string> {
  const out = new Set<string>();
  for (const s of segments)
    for (const seq of s.seqs) out.add(`${s.manifest.producerId}/${s.manifest.topic}/${seq}`);
  return out;
}
