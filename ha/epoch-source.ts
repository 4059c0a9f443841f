import type { Redis } from 'ioredis';
import { asRedisError } from '../src/redis/connect.js';
import type { Keyspace } from '../src/keys.js';

/** Where a new leader gets its fencing epoch: `INCR` in the state Redis (never reused, survives restarts with AOF). */
export interface EpochSource {
  next(): Promise<number>;
  current(): Promise<number>;
}

export class RedisEpochSource implements EpochSource {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
  ) {}

  async next(): Promise<number> {
    try {
      return await this.redis.incr(this.keys.epoch());
    } catch (err) {
      throw asRedisError(err);
    }
  }

  async current(): Promise<number> {
    try {
      return Number((await this.redis.get(this.keys.epoch())) ?? 0);
    } catch (err) {
      throw asRedisError(err);
    }
  }
}
