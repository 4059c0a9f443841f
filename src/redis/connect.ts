import { Redis, type RedisOptions } from 'ioredis';
import { GatewayError } from '../errors.js';

export interface RedisConnectOptions {
  url: string;
  /** Shows in CLIENT LIST, so an operator can tell connections apart. */
  name: string;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** For connections that issue blocking reads (XREADGROUP BLOCK): no per-command timeout. */
  blocking?: boolean;
}

/**
 * Opens an ioredis connection that fails fast instead of queueing: while Redis is unreachable every
 * command rejects at once (no offline queue), so callers see GW_ERR_REDIS_UNAVAILABLE and apply their own
 * bounded retry, and nothing piles up in memory. The connection itself keeps reconnecting with capped
 * backoff and resumes on its own when Redis is back.
 */
export async function connectRedis(opts: RedisConnectOptions): Promise<Redis> {
  const options: RedisOptions = {
    connectionName: opts.name,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: !opts.blocking,
    connectTimeout: opts.connectTimeoutMs ?? 2_000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 1_000),
    ...(opts.blocking ? {} : { commandTimeout: opts.commandTimeoutMs ?? 2_000 }),
  };
  const redis = new Redis(opts.url, options);
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new GatewayError(
      'GW_ERR_REDIS_UNAVAILABLE',
      `cannot connect to ${redactUrl(opts.url)}`,
      {},
      { cause: err },
    );
  }
  return redis;
}

/** Maps ioredis connection-level failures to the typed error; rethrows anything else unchanged. */
export function asRedisError(err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|Command timed out|LOADING|max retries|ETIMEDOUT/i.test(
      message,
    )
  ) {
    return new GatewayError('GW_ERR_REDIS_UNAVAILABLE', message, {}, { cause: err });
  }
  return err;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[redacted]@');
}
