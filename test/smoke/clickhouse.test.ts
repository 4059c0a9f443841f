import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseServer } from '../harness/clickhouse-server.js';

describe('clickhouse-server harness', () => {
  let server: ClickHouseServer;
  let client: ClickHouseClient;
  beforeAll(async () => {
    server = await ClickHouseServer.start();
    client = createClient({ url: server.url });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it('collapses rows with the same business key in a ReplacingMergeTree (UInt64 ns timestamps)', async () => {
    await client.command({
      query: `CREATE TABLE smoke_events (producer_id String, seq UInt64, ts_ns UInt64, payload String)
              ENGINE = ReplacingMergeTree() ORDER BY (producer_id, seq)`,
    });
    const rows = [
      { producer_id: 'gw-1', seq: 1, ts_ns: '1764000000000000001', payload: 'a' },
      { producer_id: 'gw-1', seq: 2, ts_ns: '1764000000000000002', payload: 'b' },
    ];
    await client.insert({ table: 'smoke_events', values: rows, format: 'JSONEachRow' });
    await client.insert({ table: 'smoke_events', values: rows, format: 'JSONEachRow' });
    const result = await client.query({
      query: 'SELECT count() AS n, max(ts_ns) AS last FROM smoke_events FINAL',
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ n: string; last: string }>();
    expect(row).toEqual({ n: '2', last: '1764000000000000002' });
  });

  it('answers again after a SIGKILL and restart, with the data kept', async () => {
    await server.restart();
    const body = await server.query('SELECT count() FROM smoke_events FINAL');
    expect(body.trim()).toBe('2');
  });
});
