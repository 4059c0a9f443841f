import type { Redis } from 'ioredis';
import { GatewayError } from '../src/errors.js';
import { asRedisError } from '../src/redis/connect.js';

/**
 * BullMQ and the manifest states must never be evicted: an evicted job or claim would silently lose or
 * double a segment's load. The loader refuses to start unless `maxmemory-policy` is `noeviction`. Reads
 * it from INFO (CONFIG GET is often renamed or disabled on managed Redis).
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  let info: string;
  try {
    info = await redis.info('memory');
  } catch (err) {
    throw asRedisError(err);
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== 'noeviction') {
    throw new GatewayError(
      'GW_ERR_REDIS_EVICTION_POLICY',
      `maxmemory-policy is ${policy ?? 'unknown'}; set it to noeviction`,
      { policy: policy ?? 'unknown' },
    );
  }
}
