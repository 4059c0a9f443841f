import type { ClickHouseClient } from '@clickhouse/client';

/**
 * What the connected ClickHouse can do, probed once at start-up (docs/replay.md, "modern ClickHouse").
 * On Debian's 18.16 every flag is false and the loader relies on ReplacingMergeTree alone.
 */
export interface ClickHouseFeatures {
  readonly version: string;
  /** `insert_deduplication_token`: the loader tags each batch `<segmentId>:<batch>:<rows>`. */
  readonly insertDeduplicationToken: boolean;
  /** Feature names, as `-- @requires <name>` in migrations refers to them. */
  readonly names: ReadonlySet<string>;
}

export async function detectFeatures(client: ClickHouseClient): Promise<ClickHouseFeatures> {
  const version = (await queryRows<{ v: string }>(client, 'SELECT version() AS v'))[0]?.v ?? 'unknown';
  const settings = await queryRows<{ name: string }>(
    client,
    "SELECT name FROM system.settings WHERE name IN ('insert_deduplication_token')",
  );
  const names = new Set(settings.map((row) => row.name));
  return Object.freeze({
    version,
    insertDeduplicationToken: names.has('insert_deduplication_token'),
    names,
  });
}

export async function queryRows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const result = await client.query({ query, format: 'JSONEachRow' });
  return result.json<T>();
}
