import type { Redis } from 'ioredis';
import { StatusBoard } from '../../ha/status-board.js';
import type { Config } from '../config/schema.js';
import { Keyspace } from '../keys.js';
import { createLogger } from '../log.js';
import { createRegistry } from '../metrics/registry.js';
import { PolicyMetrics } from '../policy/policy-metrics.js';
import type { PolicyMode } from '../policy/policy-mode.js';
import { PolicyStore } from '../policy/policy-store.js';
import { connectRedis } from '../redis/connect.js';
import { Scripts } from '../redis/scripts.js';

/** What operator commands need: the state Redis, the keyspace, the HA board and the policy store. */
export class OperatorContext {
  readonly keys: Keyspace;
  readonly board: StatusBoard;

  private constructor(
    readonly config: Readonly<Config>,
    readonly redis: Redis,
  ) {
    this.keys = new Keyspace(config.redis.keyPrefix);
    this.board = new StatusBoard(redis, this.keys, config.ha.eventsMaxLen);
  }

  static async open(config: Readonly<Config>): Promise<OperatorContext> {
    const redis = await connectRedis({
      url: config.redis.stateUrl,
      name: `hft-cli:${config.processId}`,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      connectTimeoutMs: config.redis.connectTimeoutMs,
    });
    return new OperatorContext(config, redis);
  }

  /** Operator policy change (the only way out of HALT), through the same Lua script the gateways use. */
  async setPolicy(mode: PolicyMode, reason: string, operator: string) {
    const scripts = new Scripts();
    scripts.register(this.redis);
    const store = new PolicyStore({
      redis: this.redis,
      scripts,
      keys: this.keys,
      config: this.config.policy,
      logger: createLogger({ level: 'silent', processId: 'hft-cli' }),
      metrics: new PolicyMetrics(createRegistry({ process_id: 'hft-cli', component: 'cli' })),
    });
    return store.operatorSet(mode, reason, operator);
  }

  close(): void {
    this.redis.disconnect();
  }
}
