import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { connectRedis } from '../../src/redis/connect.js';
import { RedisServer } from './redis-server.js';
import { VenueSim } from './venue-sim.js';

/** What {@link useRedisAndVenue} gives a test file; the fields are set once its beforeAll has run. */
export interface Testbed {
  readonly redis: RedisServer;
  readonly sim: VenueSim;
  /** A connection for the test's own reads and writes. */
  readonly r: Redis;
  /** Run after each test, last pushed first (gateways, clients, brokers the test started). */
  readonly cleanups: (() => Promise<unknown>)[];
}

/**
 * Registers the hooks most gateway-level test files repeat: one real redis-server and one venue-sim
 * (no fills) per file; before each test Redis is flushed and the venue reset; after each test the
 * cleanups run. Call it at the top level of a test file.
 */
export function useRedisAndVenue(opts: { aof?: boolean } = {}): Testbed {
  const bed = { cleanups: [] as (() => Promise<unknown>)[] } as {
    -readonly [K in keyof Testbed]: Testbed[K];
  };
  beforeAll(async () => {
    [bed.redis, bed.sim] = await Promise.all([
      RedisServer.start({ aof: opts.aof ?? false }),
      VenueSim.start({ fillMode: 'none' }),
    ]);
    bed.r = await connectRedis({ url: bed.redis.url, name: 'test' });
  });
  afterAll(async () => {
    bed.r?.disconnect();
    await Promise.all([bed.redis?.stop(), bed.sim?.stop()]);
  });
  beforeEach(async () => {
    await bed.r.flushall();
    await bed.sim.reset();
    await bed.sim.setFaults({ fillMode: 'none' });
  });
  afterEach(async () => {
    while (bed.cleanups.length) await bed.cleanups.pop()?.();
  });
  return bed;
}
