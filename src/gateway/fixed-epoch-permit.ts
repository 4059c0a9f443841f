import type { Redis } from 'ioredis';
import type { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import { asRedisError } from '../redis/connect.js';
import type { DispatchPermit } from './dispatch-permit.js';

/**
 * Single-process permit: INCRs the fencing epoch once at start and holds it. Without a lease there is no
 * self-fencing by time; the epoch still makes an older process harmless once a newer one has started
 * (its scripts answer FENCED and it stops). Use the HA lease permit (ha/) when more than one gateway runs.
 */
export class FixedEpochPermit implements DispatchPermit {
  private fenced = false;

  private constructor(
    readonly epoch: number,
    private readonly logger?: Logger,
  ) {}

  static async acquire(redis: Redis, keys: Keyspace, logger?: Logger): Promise<FixedEpochPermit> {
    try {
      return new FixedEpochPermit(await redis.incr(keys.epoch()), logger);
    } catch (err) {
      throw asRedisError(err);
    }
  }

  mayDispatch(): boolean {
    return !this.fenced;
  }

  onFenced(currentEpoch: number): void {
    if (this.fenced) return;
    this.fenced = true;
    this.logger?.error({ epoch: this.epoch, current_epoch: currentEpoch }, 'fenced by a newer epoch');
  }
}
