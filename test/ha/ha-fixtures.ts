import { Redis } from 'ioredis';
import { haSection, type HaConfig } from '../../ha/config.js';
import type { Activatable } from '../../ha/activatable.js';
import { HaNode } from '../../ha/ha-node.js';
import type { Lease, LeaseKeeper, LeaseView, RenewOutcome } from '../../ha/lease-keeper.js';
import { RedlockLeaseKeeper } from '../../ha/redlock-lease-keeper.js';
import type { DispatchPermit } from '../../src/gateway/dispatch-permit.js';
import { Keyspace } from '../../src/keys.js';
import { createLogger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { RedisServer } from '../harness/redis-server.js';

export const keys = new Keyspace('{hfttest}');
export const silent = (processId: string) => createLogger({ level: 'silent', processId });

export async function startLeaseNodes(n: number): Promise<RedisServer[]> {
  return Promise.all(Array.from({ length: n }, () => RedisServer.start()));
}

export function haConfig(nodes: RedisServer[], overrides: Partial<HaConfig> = {}): HaConfig {
  return haSection.parse({ enabled: true, leaseNodes: nodes.map((n) => n.url), ...overrides });
}

export function keeperFor(cfg: HaConfig, processId: string): Promise<RedlockLeaseKeeper> {
  return RedlockLeaseKeeper.open(cfg, keys.leaderLease(cfg.leaseName), silent(processId), { processId });
}

export interface Dispatch {
  readonly processId: string;
  readonly epoch: number;
}

/**
 * A real (if tiny) dispatcher: while activated it "sends" every few ms to a shared venue log, checking
 * permit.mayDispatch() immediately before each send exactly as the gateway does before a broker send.
 * Several targets in one process share one log, so its order is the venue's arrival order.
 */
export class RecordingTarget implements Activatable {
  activations = 0;
  deactivations = 0;
  private timer: NodeJS.Timeout | undefined;
  permit: DispatchPermit | undefined;

  constructor(
    readonly processId: string,
    private readonly venue: Dispatch[],
  ) {}

  async activate(permit: DispatchPermit): Promise<void> {
    this.activations += 1;
    this.permit = permit;
    this.timer = setInterval(() => {
      if (permit.mayDispatch()) this.venue.push({ processId: this.processId, epoch: permit.epoch });
    }, 2);
  }

  async deactivate(): Promise<void> {
    this.deactivations += 1;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  inFlight(): number {
    return 0;
  }
}

/** Wraps a keeper; pause() makes renewals hang (answered as unanswered only on resume), like a stopped process. */
export class PausableKeeper implements LeaseKeeper {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  constructor(private readonly inner: LeaseKeeper) {}

  get nodes(): number {
    return this.inner.nodes;
  }
  get quorum(): number {
    return this.inner.quorum;
  }
  pause(): void {
    this.gate ??= new Promise((resolve) => {
      this.open = resolve;
    });
  }
  resume(): void {
    this.open?.();
    this.gate = undefined;
  }
  tryAcquire(): Promise<Lease | null> {
    return this.inner.tryAcquire();
  }
  async renew(lease: Lease): Promise<RenewOutcome> {
    if (this.gate) {
      await this.gate;
      return { ok: false, lost: false, reason: 'paused' };
    }
    return this.inner.renew(lease);
  }
  release(lease: Lease): Promise<void> {
    return this.inner.release(lease);
  }
  inspect(): Promise<LeaseView> {
    return this.inner.inspect();
  }
  breakDead(view: LeaseView): Promise<number> {
    return this.inner.breakDead(view);
  }
  connectedNodes(): number {
    return this.inner.connectedNodes();
  }
  onDisconnect(listener: (connected: number) => void): void {
    this.inner.onDisconnect(listener);
  }
  nodeHealth(): Promise<boolean[]> {
    return this.inner.nodeHealth();
  }
  close(): Promise<void> {
    this.resume();
    return this.inner.close();
  }
}

export interface Member {
  readonly node: HaNode;
  readonly target: RecordingTarget;
  readonly keeper: LeaseKeeper;
  readonly state: Redis;
}

export async function member(
  processId: string,
  cfg: HaConfig,
  state: RedisServer,
  venue: Dispatch[],
  keeper?: LeaseKeeper,
): Promise<Member> {
  const stateRedis = new Redis(state.url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  stateRedis.on('error', () => {});
  await stateRedis.connect();
  const target = new RecordingTarget(processId, venue);
  const usedKeeper = keeper ?? (await keeperFor(cfg, processId));
  const node = new HaNode({
    processId,
    config: cfg,
    keys,
    stateRedis,
    target,
    registry: createRegistry({ process_id: processId, component: 'gateway' }),
    logger: silent(processId),
    keeper: usedKeeper,
  });
  return { node, target, keeper: usedKeeper, state: stateRedis };
}

/** Venue log invariant: once an epoch has dispatched, no older epoch dispatches again. */
export function staleDispatches(venue: readonly Dispatch[]): Dispatch[] {
  let highest = 0;
  const stale: Dispatch[] = [];
  for (const d of venue) {
    if (d.epoch < highest) stale.push(d);
    highest = Math.max(highest, d.epoch);
  }
  return stale;
}
