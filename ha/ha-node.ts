import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Clock } from '../src/clock.js';
import type { Keyspace } from '../src/keys.js';
import type { Logger } from '../src/log.js';
import type { Activatable } from './activatable.js';
import type { HaConfig } from './config.js';
import { RedisEpochSource } from './epoch-source.js';
import { HaController } from './ha-controller.js';
import { HaMetrics } from './ha-metrics.js';
import type { LeaseKeeper } from './lease-keeper.js';
import { RedlockLeaseKeeper } from './redlock-lease-keeper.js';
import { StatusBoard } from './status-board.js';

export interface HaNodeDeps {
  readonly processId: string;
  readonly config: HaConfig;
  readonly keys: Keyspace;
  /** State Redis connection (epoch INCR, status board). */
  readonly stateRedis: Redis;
  readonly target: Activatable;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Ops server URL published on the status board so `hft ha drill` can reach the admin API. */
  opsUrl?: string;
  readonly clock?: Clock;
  /** The lease keeper: redlock over config.leaseNodes ({@link HaNode.openKeeper}) or a test wrapper of it. */
  readonly keeper: LeaseKeeper;
}

/**
 * Everything HA in one gateway process: the redlock keeper, the epoch source, the role machine, its
 * metrics, and the status board publisher. `start()` begins contending; `stop()` steps down and closes.
 */
export class HaNode {
  readonly controller: HaController;
  readonly board: StatusBoard;
  readonly keeper: LeaseKeeper;
  private publishTimer: NodeJS.Timeout | undefined;
  private nodesUp: number;

  constructor(private readonly deps: HaNodeDeps) {
    const { config, processId, logger } = deps;
    this.keeper = deps.keeper;
    this.nodesUp = this.keeper.nodes;
    this.board = new StatusBoard(deps.stateRedis, deps.keys, config.eventsMaxLen, logger);
    let controller: HaController | undefined;
    const metrics = new HaMetrics(deps.registry, () => controller?.leaseRemainingSeconds() ?? 0);
    controller = new HaController({
      processId,
      config,
      keeper: this.keeper,
      epochs: new RedisEpochSource(deps.stateRedis, deps.keys),
      target: deps.target,
      metrics,
      logger: logger.child({ component: 'ha' }),
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
    this.controller = controller;
    this.controller.onTransition((t) => {
      void this.board.recordTransition(t);
      void this.publish();
    });
  }

  static openKeeper(
    config: HaConfig,
    keys: Keyspace,
    logger: Logger,
    processId: string,
    clock?: Clock,
  ): Promise<LeaseKeeper> {
    return RedlockLeaseKeeper.open(config, keys.leaderLease(config.leaseName), logger, {
      processId,
      ...(clock ? { clock } : {}),
    });
  }

  set opsUrl(url: string) {
    this.deps.opsUrl = url;
  }

  start(): void {
    this.controller.start();
    void this.publish();
    this.publishTimer = setInterval(() => {
      void this.keeper.nodeHealth().then((health) => {
        this.nodesUp = health.filter(Boolean).length;
      });
      void this.publish();
    }, this.deps.config.statusIntervalMs);
    this.publishTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.publishTimer) clearInterval(this.publishTimer);
    await this.controller.stop();
    await this.publish();
    await this.keeper.close();
  }

  async publish(): Promise<void> {
    await this.board.publish({
      ...this.controller.status(),
      opsUrl: this.deps.opsUrl ?? '',
      leaseNodesUp: this.nodesUp,
      leaseNodes: this.keeper.nodes,
    });
  }
}
