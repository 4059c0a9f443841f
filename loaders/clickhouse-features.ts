import type { ClickHouseClient } from '@clickhouse/client';

/**
 * What the connected ClickHouse can do, probed once at start-up (docs/replay.md, "modern ClickHouse").
 * On Debian's 18.16 every flag is false and the loader relies on ReplacingMergeTree alone.
 */
export interface ClickHouseFeatures {
  readonly version: string;
  /** `insert_deduplication_token`: the loader tags each batch (segment-loader.ts, batchDedupToken). */
  readonly insertDeduplicationToken: boolean;
  /**
   * Feature names, as `-- @requires <name>` in migrations refers to them: the query settings and MergeTree
   * settings probed (`insert_deduplication_token`, `fsync_after_insert`).
   */
  readonly names: ReadonlySet<string>;
}

export async function detectFeatures(client: ClickHouseClient): Promise<ClickHouseFeatures> {
  const version = (await queryRows<{ v: string }>(client, 'SELECT version() AS v'))[0]?.v ?? 'unknown';
  const settings = await queryRows<{ name: string }>(
    client,
    "SELECT name FROM system.settings WHERE name IN ('insert_deduplication_token')",
  );
  // MergeTree settings live in their own table (absent on some old servers: then none of them).
  const treeSettings = await queryRows<{ name: string }>(
    client,
    "SELECT name FROM system.merge_tree_settings WHERE name IN ('fsync_after_insert')",
  ).catch(() => []);
  const names = new Set([...settings, ...treeSettings].map((row) => row.name));
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
