import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../src/config/schema.js';
import type { Keyspace } from '../src/keys.js';
import type { Logger } from '../src/log.js';
import type { OpsServer } from '../src/ops/server.js';
import type { Activatable } from './activatable.js';
import type { StepDownReport } from './ha-controller.js';
import { HaNode } from './ha-node.js';

export interface GatewayHaDeps {
  readonly config: Readonly<Config>;
  /** The gateway: warm in STANDBY, driven by the role machine. */
  readonly target: Activatable;
  readonly stateRedis: Redis;
  readonly keys: Keyspace;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly ops: OpsServer;
}

/** The step-down answer of the admin API: the controller's report plus the intent backlog at that instant. */
export interface AdminStepDownReport extends StepDownReport {
  /** Entries read by some consumer but not yet acknowledged when the step-down began. */
  readonly pendingAtStepDown: number | null;
}

/**
 * HA mode of the gateway process (`ha.enabled`): the role machine drives the warm gateway, and the admin
 * API gets `GET /admin/ha/status` and `POST /admin/ha/step-down` (planned failover, used by `hft ha drill`).
 */
export class GatewayHa {
  private constructor(
    readonly node: HaNode,
    private readonly deps: GatewayHaDeps,
  ) {}

  static async create(deps: GatewayHaDeps): Promise<GatewayHa> {
    const { config, logger } = deps;
    const keeper = await HaNode.openKeeper(config.ha, deps.keys, logger, config.processId);
    const node = new HaNode({
      processId: config.processId,
      config: config.ha,
      keys: deps.keys,
      stateRedis: deps.stateRedis,
      target: deps.target,
      registry: deps.registry,
      logger,
      keeper,
    });
    const ha = new GatewayHa(node, deps);
    deps.ops.registerAdmin((admin) => {
      admin.get('/ha/status', async () => node.controller.status());
      admin.post('/ha/step-down', async (req) => {
        const body = (req.body ?? {}) as { reason?: unknown };
        const reason = typeof body.reason === 'string' ? body.reason.slice(0, 200) : 'operator drill';
        return ha.stepDown(reason);
      });
    });
    return ha;
  }

  /** Epoch of the current term (null unless leading): the policy store fences its trips with it. */
  epoch(): number | null {
    return this.node.controller.permit()?.epoch ?? null;
  }

  start(opsUrl: string): void {
    this.node.opsUrl = opsUrl;
    this.node.start();
  }

  async stepDown(reason: string): Promise<AdminStepDownReport> {
    const pendingAtStepDown = await this.pendingEntries();
    const report = await this.node.controller.stepDown(reason);
    return { ...report, pendingAtStepDown };
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }

  private async pendingEntries(): Promise<number | null> {
    const { config, keys, stateRedis } = this.deps;
    try {
      const summary = (await stateRedis.xpending(
        keys.intentStream(config.channel.stream),
        config.channel.group,
      )) as [number, ...unknown[]];
      return Number(summary[0]);
    } catch {
      return null;
    }
  }
}
