import { randomBytes } from 'node:crypto';
import { ExecutionError, type Lock, Redlock, ResourceLockedError } from '@sesamecare-oss/redlock';
import { Redis } from 'ioredis';
import { type Clock, systemClock } from '../src/clock.js';
import type { Logger } from '../src/log.js';
import { Scripts, loadScripts } from '../src/redis/scripts.js';
import { type HaConfig, driftAllowanceMs } from './config.js';
import type { Lease, LeaseKeeper, LeaseView, NodeLeaseView, RenewOutcome } from './lease-keeper.js';

type KeeperConfig = Pick<
  HaConfig,
  'leaseNodes' | 'ttlMs' | 'clockDriftPerMille' | 'nodeTimeoutMs' | 'deadHolderBreak' | 'deadHolderQuietMs'
>;

/** The lease value is `<holder's lease connection name>/<random>`: a standby can tell whose lease it is. */
const TOKEN_SEPARATOR = '/';

/** Connection name of the lease value's holder, or null for a value not written by this keeper. */
export function holderOf(token: string): string | null {
  const cut = token.lastIndexOf(TOKEN_SEPARATOR);
  return cut > 0 ? token.slice(0, cut) : null;
}

function clientNames(list: string): Set<string> {
  const names = new Set<string>();
  for (const match of list.matchAll(/(?:^| )name=(\S+)/gm)) names.add(match[1] as string);
  return names;
}

const BREAK_SCRIPT = 'breakLease';

/**
 * {@link LeaseKeeper} over 1/3/5 independent Redis lease nodes with redlock (majority quorum).
 *
 * - Every call is a single redlock attempt (`retryCount: 0`); the role machine owns retry timing and jitter.
 * - A lease node that is down or hung is a vote against after `nodeTimeoutMs`, so a minority of bad nodes
 *   never delays a decision (redlock resolves as soon as a majority has voted).
 * - Validity is computed on the monotonic clock from before the request: start + ttl − drift.
 * - After a successful renewal, nodes that voted against because the key was missing (a lease node that
 *   restarted empty) get the key back with SET NX, so the leader regains its full margin of node failures
 *   instead of running on a bare majority.
 */
export class RedlockLeaseKeeper implements LeaseKeeper {
  readonly nodes: number;
  readonly quorum: number;
  private readonly redlock: Redlock;
  private readonly locks = new Map<string, Lock>();
  private readonly drift: number;
  private readonly scripts: Scripts;
  private readonly disconnectListeners: Array<(connected: number) => void> = [];

  private constructor(
    private readonly clients: Redis[],
    private readonly key: string,
    private readonly cfg: KeeperConfig,
    private readonly logger: Logger,
    private readonly clock: Clock,
    /** Name of this keeper's lease connections on every node (unique per process instance). */
    readonly connectionName: string,
  ) {
    this.nodes = clients.length;
    this.quorum = Math.floor(clients.length / 2) + 1;
    this.drift = driftAllowanceMs(cfg);
    this.redlock = new Redlock(clients, {
      driftFactor: cfg.clockDriftPerMille / 1000,
      retryCount: 0,
      retryDelay: 0,
      retryJitter: 0,
    });
    // The library draws the lease value itself; prefix it with our connection name so a standby can see
    // whether the holder is still connected. A value without the prefix (another library version) only
    // disables early breaking: holderOf() returns null and such a lease is waited out by its TTL.
    (this.redlock as unknown as { _random: () => string })._random = () =>
      `${connectionName}${TOKEN_SEPARATOR}${randomBytes(16).toString('hex')}`;
    const breakLease = loadScripts().get(BREAK_SCRIPT);
    if (!breakLease) throw new Error(`Lua script ${BREAK_SCRIPT} missing`);
    this.scripts = new Scripts(new Map([[BREAK_SCRIPT, breakLease]]));
    for (const client of clients) {
      this.scripts.register(client);
      // ioredis sets the status before it emits 'close' (next tick); connectedNodes() reads the status, so a
      // dispatch check already sees the loss, and listeners hear of it before any other I/O is handled.
      client.on('close', () => {
        const connected = this.connectedNodes();
        for (const listener of this.disconnectListeners) listener(connected);
      });
    }
    // Redlock emits 'error' for every node that votes against; without a listener EventEmitter would throw.
    this.redlock.on('error', (err: unknown) => {
      if (!(err instanceof ResourceLockedError)) this.logger.debug({ err }, 'lease node vote failed');
    });
  }

  /**
   * Opens one connection per lease node without waiting for all of them: a node that is down at start-up
   * keeps reconnecting in the background and simply votes against until it is back. Waits (bounded by the
   * connect timeout) for the reachable nodes to be ready, so the first acquisition is not lost to a race.
   */
  static async open(
    cfg: KeeperConfig,
    leaseKey: string,
    logger: Logger,
    opts: { processId: string; clock?: Clock },
  ): Promise<RedlockLeaseKeeper> {
    // Unique per process instance: a restarted process must not look like the holder it replaced.
    const connectionName = `${opts.processId}:lease:${randomBytes(4).toString('hex')}`;
    const clients = cfg.leaseNodes.map(
      (url) =>
        new Redis(url, {
          connectionName,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          enableAutoPipelining: false,
          connectTimeout: Math.max(cfg.nodeTimeoutMs, 200),
          commandTimeout: cfg.nodeTimeoutMs,
          retryStrategy: (times) => Math.min(20 * 2 ** Math.min(times, 5), 500),
        }),
    );
    for (const client of clients) client.on('error', () => {});
    const connectWaitMs = Math.max(cfg.nodeTimeoutMs, 200);
    await Promise.all(clients.map((client) => untilReady(client, connectWaitMs)));
    return new RedlockLeaseKeeper(clients, leaseKey, cfg, logger, opts.clock ?? systemClock, connectionName);
  }

  async inspect(): Promise<LeaseView> {
    const nodes = await Promise.all(this.clients.map((client) => this.inspectNode(client)));
    const quietBound = this.cfg.ttlMs - this.cfg.deadHolderQuietMs;
    const breakable = (n: NodeLeaseView) =>
      this.cfg.deadHolderBreak && n.token !== null && n.holderGone && n.remainingMs <= quietBound;
    const freeIn = nodes
      .map((n) => {
        if (!n.reachable) return Number.POSITIVE_INFINITY;
        if (n.token === null) return 0;
        if (n.remainingMs < 0) return Number.POSITIVE_INFINITY;
        if (this.cfg.deadHolderBreak && n.holderGone) return Math.max(0, n.remainingMs - quietBound);
        return n.remainingMs;
      })
      .sort((a, b) => a - b)[this.quorum - 1] as number;
    return {
      nodes,
      majorityFreeInMs: Number.isFinite(freeIn) ? freeIn : null,
      breakableNow: nodes.filter(breakable).length,
    };
  }

  async breakDead(view: LeaseView): Promise<number> {
    if (!this.cfg.deadHolderBreak) return 0;
    const quietBound = this.cfg.ttlMs - this.cfg.deadHolderQuietMs;
    const results = await Promise.all(
      view.nodes.map(async (n, i) => {
        const client = this.clients[i];
        if (!client || n.token === null || !n.holderGone || n.remainingMs > quietBound) return 0;
        try {
          return Number(await this.scripts.run(client, BREAK_SCRIPT, [this.key], [n.token, quietBound]));
        } catch {
          return 0;
        }
      }),
    );
    return results.reduce((a, b) => a + b, 0);
  }

  connectedNodes(): number {
    let connected = 0;
    for (const client of this.clients) if (client.status === 'ready') connected += 1;
    return connected;
  }

  onDisconnect(listener: (connected: number) => void): void {
    this.disconnectListeners.push(listener);
  }

  private async inspectNode(client: Redis): Promise<NodeLeaseView> {
    const unreachable = { reachable: false, token: null, remainingMs: 0, holderGone: false };
    if (client.status !== 'ready') return unreachable;
    try {
      const replies = await client.pipeline().get(this.key).pttl(this.key).client('LIST').exec();
      if (!replies || replies.some(([err]) => err)) return unreachable;
      const token = (replies[0]?.[1] as string | null) ?? null;
      if (token === null) return { reachable: true, token: null, remainingMs: 0, holderGone: false };
      const holder = holderOf(token);
      return {
        reachable: true,
        token,
        remainingMs: Number(replies[1]?.[1]),
        // Unknown holder (foreign value): never treated as gone.
        holderGone: holder !== null && !clientNames(String(replies[2]?.[1] ?? '')).has(holder),
      };
    } catch {
      return unreachable;
    }
  }

  async tryAcquire(): Promise<Lease | null> {
    const start = this.clock.monoMs();
    try {
      const lock = await this.redlock.acquire([this.key], this.cfg.ttlMs);
      const lease = { token: lock.value, validUntilMs: start + this.cfg.ttlMs - this.drift };
      this.locks.set(lock.value, lock);
      return lease;
    } catch (err) {
      if (!(err instanceof ExecutionError)) throw err;
      return null;
    }
  }

  async renew(lease: Lease): Promise<RenewOutcome> {
    const lock = this.locks.get(lease.token);
    if (!lock) return { ok: false, lost: true, reason: 'lease released' };
    if (this.clock.monoMs() >= lease.validUntilMs)
      return { ok: false, lost: true, reason: 'lease already expired' };
    const start = this.clock.monoMs();
    try {
      const next = await this.redlock.extend(lock, this.cfg.ttlMs);
      this.locks.set(lease.token, next);
      this.healMissingNodes(next);
      return { ok: true, lease: { token: lease.token, validUntilMs: start + this.cfg.ttlMs - this.drift } };
    } catch (err) {
      if (!(err instanceof ExecutionError)) throw err;
      // No attempt at all: redlock refused locally because the lock's own (wall-clock) expiry passed.
      if (err.attempts.length === 0) return { ok: false, lost: true, reason: 'lease already expired' };
      const locked = await this.lockedVotes(err);
      // Lost when the nodes that positively refused already make any majority impossible.
      const lost = locked > this.nodes - this.quorum;
      return {
        ok: false,
        lost,
        reason: lost ? `lease held elsewhere on ${locked}/${this.nodes} nodes` : 'no majority answered',
      };
    }
  }

  async release(lease: Lease): Promise<void> {
    const lock = this.locks.get(lease.token);
    this.locks.delete(lease.token);
    if (!lock) return;
    await this.redlock.release(lock).catch((err: unknown) => {
      // Unreleased keys expire by their TTL; a standby then waits at most ttlMs.
      this.logger.warn({ err }, 'lease release did not reach a majority; it will expire by TTL');
    });
  }

  async nodeHealth(): Promise<boolean[]> {
    return Promise.all(
      this.clients.map((client) =>
        client.ping().then(
          (pong) => pong === 'PONG',
          () => false,
        ),
      ),
    );
  }

  async close(): Promise<void> {
    for (const lease of [...this.locks.keys()]) await this.release({ token: lease, validUntilMs: 0 });
    for (const client of this.clients) client.disconnect();
  }

  private async lockedVotes(err: ExecutionError): Promise<number> {
    const last = err.attempts[err.attempts.length - 1];
    if (!last) return 0;
    const stats = await last;
    let locked = 0;
    for (const vote of stats.votesAgainst.values()) if (vote instanceof ResourceLockedError) locked += 1;
    return locked;
  }

  private healMissingNodes(lock: Lock): void {
    const last = lock.attempts[lock.attempts.length - 1];
    if (!last) return;
    void last.then(async (stats) => {
      for (const [client, vote] of stats.votesAgainst) {
        if (!(vote instanceof ResourceLockedError) || !this.locks.has(lock.value)) continue;
        // NX: only a node that lost the key (restarted empty) gets it back; never overwrite another holder.
        await (client as Redis).set(this.key, lock.value, 'PX', this.cfg.ttlMs, 'NX').catch(() => undefined);
      }
    });
  }
}

function untilReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
    function done() {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    }
  });
}
