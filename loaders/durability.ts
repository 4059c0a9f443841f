import type { Redis } from 'ioredis';
import { GatewayError } from '../src/errors.js';
import { asRedisError } from '../src/redis/connect.js';
import type { ClickHouseFeatures } from './clickhouse-features.js';
import type { LoaderConfig } from './config.js';

/** How durable a LOADED mark and the rows behind it are, as far as the loader can tell at start-up. */
export interface Durability {
  /** Redis persists every write before answering it (AOF on, `appendfsync always`). */
  readonly redisDurable: boolean;
  readonly redisDetail: string;
  /** ClickHouse fsyncs each insert's part before answering it (`fsync_after_insert` on wal_events). */
  readonly rowsDurable: boolean;
}

/**
 * Reads Redis' persistence settings: `aof_enabled` from INFO, `appendfsync` from CONFIG GET when it is
 * allowed (managed Redis often disables CONFIG; then only AOF on/off is known and it counts as not durable).
 */
export async function probeDurability(redis: Redis, features: ClickHouseFeatures): Promise<Durability> {
  let info: string;
  try {
    info = await redis.info('persistence');
  } catch (err) {
    throw asRedisError(err);
  }
  const aof = /^aof_enabled:1/m.test(info);
  const fsync = await redis
    .config('GET', 'appendfsync')
    .then((reply) => String((reply as string[])[1] ?? 'unknown'))
    .catch(() => 'unknown');
  return {
    redisDurable: aof && fsync === 'always',
    redisDetail: `appendonly ${aof ? 'yes' : 'no'}, appendfsync ${fsync}`,
    rowsDurable: features.names.has('fsync_after_insert'),
  };
}

/**
 * Retention runs only once LOADED is durable (docs/replay.md, "Retention"). `archive` keeps the files
 * (moved aside), so it only needs LOADED in Redis; `delete` destroys the last copy outside ClickHouse, so
 * it also needs the LOADED mark and the rows it vouches for to survive a power loss: a Redis that fsyncs
 * every write, and a ClickHouse that fsyncs inserts (18.16 cannot; the loader refuses `delete` there).
 */
export function assertRetentionSafe(retention: LoaderConfig['retention'], d: Durability): void {
  if (retention !== 'delete') return;
  const missing = [
    ...(d.redisDurable ? [] : [`Redis does not fsync every write (${d.redisDetail})`]),
    ...(d.rowsDurable ? [] : ['ClickHouse does not fsync inserts (no fsync_after_insert)']),
  ];
  if (missing.length > 0) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `loader.retention "delete" would delete segments whose LOADED state or rows are not durable: ${missing.join('; ')}. Use "archive" (the default) and prune archive/ by age`,
      { key: 'loader.retention' },
    );
  }
}
