import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type { Config } from '../src/config/schema.js';
import { GatewayError } from '../src/errors.js';

/**
 * Opens a ClickHouse HTTP client for the loader. `database` defaults to the configured one; the migrator
 * passes `default` to create the configured database first. Connections are bounded (the loader's
 * concurrency plus a few for checks), so a slow server queues work here, visibly, not in sockets.
 */
export function connectClickHouse(
  cfg: Config['clickhouse'],
  opts: { database?: string; maxConnections?: number } = {},
): ClickHouseClient {
  return createClient({
    url: cfg.url,
    database: opts.database ?? cfg.database,
    username: cfg.username,
    password: cfg.password,
    request_timeout: cfg.requestTimeoutMs,
    max_open_connections: opts.maxConnections ?? 4,
    compression: { request: false, response: false },
  });
}

/** Every ClickHouse failure of a load is retryable with backoff: the typed form of it. */
export function asClickHouseError(err: unknown, what: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError('GW_ERR_CLICKHOUSE_UNAVAILABLE', `${what}: ${message}`, { what }, { cause: err });
}

/** A ClickHouse string literal (quotes and backslashes escaped). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
