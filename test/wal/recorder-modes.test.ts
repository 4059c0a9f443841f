import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { clickhouseSection } from '../../src/config/sections.js';
import { walSection } from '../../src/wal/config.js';
import { createRecorder } from '../../src/wal/create-recorder.js';
import { crc32Range } from '../../src/wal/crc32.js';
import { JsonPayload } from '../../src/wal/json-payload.js';
import { MANIFEST_SUFFIX, OPEN_SUFFIX, segmentId } from '../../src/wal/manifest.js';
import { encodeRecord } from '../../src/wal/record.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { freePort, tempDir } from '../harness/process.js';
import { allRecords, deps, logSink, metricValue } from './wal-fixtures.js';

/** A TCP listener standing in for ClickHouse's address that only counts connection attempts. */
async function connectionCounter(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const port = await freePort();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, port, connections: () => connections };
}

describe('recorder modes', () => {
  it('wal_first records with no ClickHouse at all and never opens a connection to it', async () => {
    const probe = await connectionCounter();
    const sink = logSink();
    const d = deps('gw-1', sink);
    const dir = tempDir('wal-mode');
    const recorder = await createRecorder(
      {
        wal: walSection.parse({ dir, disk: { enabled: false } }),
        clickhouse: clickhouseSection.parse({ url: `http://127.0.0.1:${probe.port}` }),
      },
      d,
    );
    for (let i = 0; i < 5_000; i++) recorder.record(i % 2 ? 'gateway.intent' : 'gateway.decision', { i });
    await recorder.flush();
    expect(recorder.durableSeq()).toBe(5_000);
    await recorder.close();
    expect(probe.connections()).toBe(0);
    expect(allRecords(dir, 'gw-1')).toHaveLength(5_000);
    expect(sink.lines.find((l) => l.recorder_mode === 'wal_first')?.msg).toMatch(
      /ClickHouse is never called/,
    );
    expect(await metricValue(d.registry, 'hft_recorder_mode', { mode: 'wal_first' })).toBe(1);
    expect(await metricValue(d.registry, 'hft_recorder_mode', { mode: 'direct' })).toBe(0);

    // The probe is live: the direct mode, pointed at the same address, does connect (and fails to start).
    const failing = createRecorder(
      {
        wal: walSection.parse({ dir, mode: 'direct' }),
        clickhouse: clickhouseSection.parse({
          url: `http://127.0.0.1:${probe.port}`,
          requestTimeoutMs: 2_000,
        }),
      },
      deps('gw-2'),
    );
    const err = await failing.catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_CLICKHOUSE_UNAVAILABLE')).toBe(true);
    expect(probe.connections()).toBeGreaterThan(0);
    probe.server.close();
  });
});

describe('direct recorder against a real ClickHouse', () => {
  let server: ClickHouseServer;
  const table = 'wal_events';
  beforeAll(async () => {
    server = await ClickHouseServer.start();
    await server.query(
      `CREATE TABLE ${table} (producer_id String, seq UInt64, ts_ns UInt64, topic String, payload String, crc UInt32)
       ENGINE = ReplacingMergeTree() ORDER BY (producer_id, seq)`,
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  // The direct recorder keeps the producer's sequence mark in wal.dir too (docs/wal.md "Sequences").
  const walDir = tempDir('wal-direct');
  const config = (maxBufferedRecords = 100_000) => ({
    wal: walSection.parse({
      dir: walDir,
      mode: 'direct',
      direct: { table, maxBufferedRecords, flushIntervalMs: 20, retryBackoffMs: 50 },
    }),
    clickhouse: clickhouseSection.parse({ url: server.url, database: 'default' }),
  });

  it('inserts rows in the WAL line shape, continues the sequence on reopen, and rides out an outage', async () => {
    const sink = logSink();
    const d = deps('gw-d', sink);
    const first = await createRecorder(config(), d);
    expect(sink.lines.find((l) => l.recorder_mode === 'direct')).toBeDefined();
    expect(await metricValue(d.registry, 'hft_recorder_mode', { mode: 'direct' })).toBe(1);
    // Odd numbers through recordJson: the rows must be the same as record() makes (row 7 is checked).
    const json = new JsonPayload(256);
    const [iKey, qtyKey] = [JsonPayload.prepareKey('i'), JsonPayload.prepareKey('qty')];
    for (let i = 0; i < 1_000; i++) {
      if (i % 2 === 0) first.record('gateway.fill', { i, qty: 100 });
      else
        first.recordJson(
          'gateway.fill',
          json.reset().beginObject().key(iKey).int(i).key(qtyKey).int(100).endObject(),
        );
    }
    await first.flush();
    await first.close();

    const client = createClient({ url: server.url });
    const rows = await (
      await client.query({ query: `SELECT * FROM ${table} FINAL ORDER BY seq`, format: 'JSONEachRow' })
    ).json<{
      producer_id: string;
      seq: string;
      ts_ns: string;
      topic: string;
      payload: string;
      crc: number;
    }>();
    expect(rows).toHaveLength(1_000);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
    expect(rows.map((r) => r.payload)).toEqual(
      Array.from({ length: 1_000 }, (_, i) => JSON.stringify({ i, qty: 100 })),
    );
    expect(rows[7]).toMatchObject({
      producer_id: 'gw-d',
      topic: 'gateway.fill',
      payload: '{"i":7,"qty":100}',
    });
    // The crc column is the record's CRC, so a loader can compare the table with the segments.
    const r = rows[7] as (typeof rows)[number];
    const body = Buffer.from(
      `{"producer_id":"gw-d","seq":${r.seq},"ts_ns":"${r.ts_ns}","topic":"gateway.fill","payload":${JSON.stringify(r.payload)}`,
    );
    expect(r.crc).toBe(crc32Range(body, 0, body.length));

    const second = await createRecorder(config(50), deps('gw-d'));
    expect(second.record('gateway.ack', { again: true })).toBe(1_001);
    await second.flush();
    await server.kill();
    // ClickHouse down: record() still returns at once until the bound, then refuses with QUEUE_FULL.
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 100 && refusal === undefined; i++) {
      try {
        second.record('gateway.ack', { i });
        accepted++;
      } catch (err) {
        refusal = err;
      }
    }
    expect(accepted).toBe(50);
    expect(isGatewayError(refusal, 'GW_ERR_WAL_QUEUE_FULL')).toBe(true);
    await server.restart();
    await second.flush();
    expect(second.durableSeq()).toBe(1_051);
    await second.close();
    const count = await server.query(
      `SELECT count(), uniqExact(seq), max(seq) FROM ${table} FINAL WHERE producer_id = 'gw-d'`,
    );
    expect(count.trim().split('\t')).toEqual(['1051', '1051', '1051']);
    await client.close();
  });

  it('does not hang shutdown on a ClickHouse outage: close() gives up after closeTimeoutMs and counts the loss', async () => {
    const sink = logSink();
    const d = deps('gw-e', sink);
    const c = config();
    const recorder = await createRecorder(
      { ...c, wal: { ...c.wal, direct: { ...c.wal.direct, closeTimeoutMs: 300 } } },
      d,
    );
    await server.kill();
    for (let i = 0; i < 3; i++) recorder.record('gateway.intent', { i });
    await recorder.close();
    expect(await metricValue(d.registry, 'hft_recorder_direct_lost_rows_total')).toBe(3);
    expect(sink.lines.find((l) => l.level === 'error')).toMatchObject({
      rows: 3,
      first_lost_seq: 1,
      last_lost_seq: 3,
    });
    await server.restart();
  });

  it('seals and counts what a crashed wal_first run left open, under the WAL recovery metrics', async () => {
    const producer = 'gw-rec';
    const topic = 'gateway.fill';
    const dir = join(walDir, producer, topic);
    mkdirSync(dir, { recursive: true });
    const line = (seq: number) =>
      encodeRecord({ producerId: producer, seq, tsNs: 1_764_000_000_000_000_000n, topic, payload: '{}' });
    const torn = line(3).subarray(0, 21);
    writeFileSync(
      join(dir, segmentId(producer, topic, 1) + OPEN_SUFFIX),
      Buffer.concat([line(1), line(2), torn]),
    );
    const d = deps(producer);
    const recorder = await createRecorder(config(), d);
    try {
      expect(await metricValue(d.registry, 'hft_wal_torn_bytes_total')).toBe(21);
      expect(await metricValue(d.registry, 'hft_wal_segments_sealed_total', { topic })).toBe(1);
      expect(readdirSync(dir).filter((f) => f.endsWith(MANIFEST_SUFFIX))).toHaveLength(1);
      // Its numbers continue above the recovered segment's.
      expect(recorder.record(topic, { n: 1 })).toBe(3);
    } finally {
      await recorder.close();
    }
  });

  it('refuses to start without a writable wal.dir: its numbers would be invisible to a later wal_first run', async () => {
    const file = join(tempDir('wal-not-a-dir'), 'file');
    writeFileSync(file, 'not a directory');
    const c = config();
    const err = await createRecorder({ ...c, wal: { ...c.wal, dir: file } }, deps('gw-f')).catch(
      (e: unknown) => e,
    );
    expect(isGatewayError(err, 'GW_ERR_CONFIG_INVALID')).toBe(true);
    expect(String((err as Error).message)).toMatch(/writable wal\.dir/);
  });
});
