import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/redis/connect.js';
import { RedisServer } from '../harness/redis-server.js';

describe('redis-server harness', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ aof: true });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('runs Redis 7 with noeviction, so BullMQ and stream commands used here are available', async () => {
    const redis = await connectRedis({ url: server.url, name: 'smoke' });
    const info = await redis.info('server');
    expect(Number(/redis_version:(\d+)/.exec(info)?.[1])).toBeGreaterThanOrEqual(7);
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    redis.disconnect();
  });

  it('keeps data across a SIGKILL and restart on the same port (AOF, fsync always)', async () => {
    const redis = await connectRedis({ url: server.url, name: 'smoke' });
    await redis.set('{hft}:smoke', 'kept');
    redis.disconnect();
    await server.restart();
    const again = await connectRedis({ url: server.url, name: 'smoke' });
    expect(await again.get('{hft}:smoke')).toBe('kept');
    again.disconnect();
  });
});
