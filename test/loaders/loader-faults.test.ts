import { createHash } from 'node:crypto';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOAD_JOB_NAME, type LoadJobData } from '../../loaders/load-job.js';
import { LoaderProcess } from '../../loaders/loader-process.js';
import type { EventSink } from '../../loaders/wal-events-sink.js';
import { loadConfig } from '../../src/config/load.js';
import { isGatewayError } from '../../src/errors.js';
import { Keyspace } from '../../src/keys.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { spawnTs, tempDir, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { type FixtureSegment, writeBacklog, writeSegment } from './fixtures.js';
import { LoaderScenario, keysOf } from './loader-env.js';

describe('loaders: corrupt segments, zombies, racing loaders, unsafe Redis', () => {
  let redisServer: RedisServer;
  let clickhouse: ClickHouseServer;
  let scenario: LoaderScenario;

  beforeAll(async () => {
    [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
  });
  afterAll(async () => {
    await Promise.all([redisServer?.stop(), clickhouse?.stop()]);
  });
  beforeEach(async () => {
    scenario = await LoaderScenario.create(redisServer, clickhouse);
  });
  afterEach(async () => {
    await scenario?.close();
  });

  it('quarantines corrupt segments with their reason, keeps their files, and loads the rest', async () => {
    const seg = (firstSeq: number, topic = 'gateway.decision') =>
      writeSegment(scenario.walDir, { firstSeq, count: 1_500, topic });
    const good = [seg(1), seg(10_001), seg(20_001, 'gateway.intent')];
    const flipped = seg(30_001);
    const wrongSha = seg(40_001);
    const torn = seg(50_001);
    const badManifest = seg(60_001);
    // One batch each (400 < batchRows 500): the one INSERT is the whole segment. Hashing such a segment while
    // it streams (and cutting the body on a mismatch) let both land on 18.16; pass 1 first keeps them out.
    const flippedOneBatch = writeSegment(scenario.walDir, { firstSeq: 70_001, count: 400 });
    const wrongShaOneBatch = writeSegment(scenario.walDir, { firstSeq: 80_001, count: 400 });
    const unparsableOneBatch = writeSegment(scenario.walDir, { firstSeq: 90_001, count: 400 });
    // A byte in the payload of record 800 (of 1,500; batches of 500): the file's sha256 no longer matches.
    const bytes = readFileSync(flipped.segmentPath);
    const lineStart = nthLineStart(bytes, 800);
    const payloadAt = bytes.indexOf('"payload"', lineStart) + 20;
    bytes[payloadAt] = (bytes[payloadAt] as number) ^ 0x01;
    writeFileSync(flipped.segmentPath, bytes);
    writeFileSync(wrongSha.manifestPath, JSON.stringify({ ...wrongSha.manifest, sha256: 'ab'.repeat(32) }));
    truncateSync(torn.segmentPath, torn.manifest.bytes - 7);
    writeFileSync(badManifest.manifestPath, '{"version":1,');
    const one = readFileSync(flippedOneBatch.segmentPath);
    const onePayloadAt = one.indexOf('"payload"', nthLineStart(one, 399)) + 20; // in the very last record
    one[onePayloadAt] = (one[onePayloadAt] as number) ^ 0x01;
    writeFileSync(flippedOneBatch.segmentPath, one);
    writeFileSync(
      wrongShaOneBatch.manifestPath,
      JSON.stringify({ ...wrongShaOneBatch.manifest, sha256: 'cd'.repeat(32) }),
    );
    // A backslash of the first record's escaped payload turned into `]`: bytes ClickHouse could not even
    // parse. Quarantined by the checksum, never sent (and so never retried forever as a failing INSERT).
    const bytesU = readFileSync(unparsableOneBatch.segmentPath);
    const backslash = bytesU.indexOf('\\', bytesU.indexOf('"payload"'));
    bytesU[backslash] = (bytesU[backslash] as number) ^ 0x01;
    writeFileSync(unparsableOneBatch.segmentPath, bytesU);
    // A writer that sealed a foreign record as the very last line, its manifest hashing the forged bytes:
    // size and sha256 pass, the line checks do not. Both segments fit in memory, where every record is
    // checked before the first batch is sent: neither the one-batch segment nor the three batches of the
    // other (two of them before the forged record) insert anything.
    const forgedLastOneBatch = forgeLastRecord(
      writeSegment(scenario.walDir, { firstSeq: 100_001, count: 400 }),
    );
    const forgedLast = forgeLastRecord(writeSegment(scenario.walDir, { firstSeq: 110_001, count: 1_500 }));
    const bad = [
      flipped,
      wrongSha,
      torn,
      badManifest,
      flippedOneBatch,
      wrongShaOneBatch,
      unparsableOneBatch,
      forgedLastOneBatch,
      forgedLast,
    ];

    const loader = await scenario.spawnLoader('loader-a');
    await scenario.waitFinished(
      [...good, ...bad].map((s) => s.manifest.segmentId),
      bad.map((s) => s.manifest.segmentId),
    );

    const reasons = await Promise.all(
      bad.map(async (s) => (await scenario.store.describe(s.manifest.segmentId)).reason),
    );
    expect(reasons.map((r) => r?.split(':')[0])).toEqual([
      'checksum',
      'checksum',
      'size',
      'manifest_invalid',
      'checksum',
      'checksum',
      'checksum',
      'record_shape',
      'record_shape',
    ]);
    for (const s of bad) expect(existsSync(s.segmentPath) && existsSync(s.manifestPath)).toBe(true);
    // Every good record is there once, and nothing of a quarantined segment was inserted: the checksum
    // is verified before the first batch is sent.
    expect(await scenario.keys()).toEqual(keysOf(good));
    const counts = await scenario.counts();
    expect(counts.final).toBe(4_500);
    expect(counts.distinct).toBe(4_500);

    const quarantined = await scenario.metricLines(loader, 'hft_loader_quarantined_total');
    const byReason = Object.fromEntries(
      quarantined.map((l) => [/reason="([a-z_]+)"/.exec(l)?.[1], Number(l.split(' ').pop())]),
    );
    expect(byReason).toEqual({ checksum: 5, manifest_invalid: 1, size: 1, record_shape: 2 });
    await waitFor('quarantined gauge', async () =>
      (await scenario.metricLines(loader, 'hft_loader_quarantined_segments')).some((l) => l.endsWith(' 9')),
    );
  });

  it('V-WAL-DUP concurrent: two loaders racing on every segment (each enqueued twice) load each record once', async () => {
    const segments = writeBacklog(scenario.walDir, { segments: 12, recordsPerSegment: 1_000 });
    const queue = new Queue<LoadJobData>('wal-load', {
      connection: { url: redisServer.url },
      prefix: new Keyspace(scenario.keyPrefix).bullmqPrefix(),
    });
    // A second job per segment under another id: BullMQ would happily run both, at the same time.
    await queue.addBulk(
      segments.map((s) => ({
        name: LOAD_JOB_NAME,
        data: { segmentId: s.manifest.segmentId, manifestPath: s.manifestPath },
        opts: { jobId: `${s.manifest.segmentId}.dup`, attempts: 1_000, backoff: { type: 'segment' } },
      })),
    );
    const loaders = await Promise.all([scenario.spawnLoader('loader-a'), scenario.spawnLoader('loader-b')]);
    await scenario.waitFinished(segments.map((s) => s.manifest.segmentId));
    // The duplicate jobs all ran to completion too: each found its segment busy, loaded or gone.
    await waitFor('duplicate jobs completed', async () => {
      const states = await Promise.all(segments.map((s) => queue.getJobState(`${s.manifest.segmentId}.dup`)));
      return states.every((st) => st === 'completed');
    });
    await queue.close();
    let loads = 0;
    for (const l of loaders) {
      for (const line of await scenario.metricLines(l, 'hft_loader_segments_total')) {
        if (line.includes('outcome="loaded"')) loads += Number(line.split(' ').pop());
      }
    }
    expect(loads).toBe(segments.length); // one real load per segment, whichever job got there first
    const counts = await scenario.counts();
    expect(counts).toEqual({ raw: 12_000, final: 12_000, distinct: 12_000 });
    expect(await scenario.keys()).toEqual(keysOf(segments));
  });

  it('V-WAL-DUP zombie: a loader paused mid-insert past its lease loses the segment; the other finishes it', async () => {
    const segment: FixtureSegment = writeSegment(scenario.walDir, { firstSeq: 1, count: 3_000 });
    const zombie = await scenario.spawnLoader('zombie', {
      loader: { concurrency: 1, faultHook: { point: 'mid-insert', action: 'sigstop' } },
    });
    await waitFor('zombie paused', async () => zombie.output().includes('HFT_FAULT_POINT mid-insert'));
    await scenario.spawnLoader('rescuer');
    await scenario.waitFinished([segment.manifest.segmentId]);
    expect((await scenario.store.describe(segment.manifest.segmentId)).worker).toBe('rescuer');

    zombie.child.kill('SIGCONT');
    await waitFor('zombie notices', async () =>
      zombie.output().includes('claim lost; another loader finishes'),
    );
    const counts = await scenario.counts();
    expect(counts.final).toBe(3_000);
    expect(counts.distinct).toBe(3_000);
    expect(await scenario.keys()).toEqual(keysOf([segment]));
  });

  it('slow ClickHouse: bounded concurrent inserts, leases kept alive through inserts longer than the lease', async () => {
    const segments = writeBacklog(scenario.walDir, { segments: 4, recordsPerSegment: 1_000 });
    let inFlight = 0;
    let maxInFlight = 0;
    const insertMs = 2_000; // longer than the 1.5 s claim lease below
    const slow = (sink: EventSink): EventSink => ({
      landed: (manifest) => sink.landed(manifest),
      insert: async (segmentId, batch, signal) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, insertMs));
          await sink.insert(segmentId, batch, signal);
        } finally {
          inFlight -= 1;
        }
      },
    });
    const config = loadConfig({
      overrides: {
        ...scenario.config('slow-ch', { loader: { concurrency: 2, batchRows: 1_000, claimTtlMs: 1_500 } }),
        log: { level: 'warn' },
      },
    });
    const loader = await LoaderProcess.start(config, { wrapSink: slow });
    try {
      await scenario.waitFinished(segments.map((s) => s.manifest.segmentId));
    } finally {
      await loader.stop();
    }
    expect(maxInFlight).toBe(2);
    const states = await Promise.all(segments.map((s) => scenario.store.describe(s.manifest.segmentId)));
    expect(states.map((st) => st.claims)).toEqual(segments.map(() => '1')); // no lease ever lapsed
    const counts = await scenario.counts();
    expect(counts).toMatchObject({ final: 4_000, distinct: 4_000 });
  });

  it('refuses retention "delete" (GW_ERR_CONFIG_INVALID) where LOADED rows are not fsynced (18.16)', async () => {
    const config = loadConfig({
      overrides: {
        ...scenario.config('deleter', { loader: { retention: 'delete' } }),
        log: { level: 'silent' },
      },
    });
    await expect(LoaderProcess.start(config)).rejects.toSatisfy(
      (err) => isGatewayError(err, 'GW_ERR_CONFIG_INVALID') && /fsync_after_insert/.test(String(err)),
    );
  });

  it('refuses to start (GW_ERR_REDIS_EVICTION_POLICY) when Redis may evict keys', async () => {
    const evicting = await RedisServer.start({ extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    try {
      const file = `${tempDir('loader-config')}/config.json`;
      writeFileSync(
        file,
        JSON.stringify({ ...scenario.config('unsafe'), redis: { stateUrl: evicting.url } }),
      );
      const proc = spawnTs('loaders/main.ts', [], { env: { ...process.env, HFT_CONFIG_FILE: file } });
      expect(await proc.exited()).toBe(1);
      expect(proc.output()).toContain('GW_ERR_REDIS_EVICTION_POLICY');
      expect(proc.output()).toContain('allkeys-lru');
    } finally {
      await evicting.stop();
    }
  });
});

/** Replaces the segment's last record with another producer's, and hashes the result into its manifest. */
function forgeLastRecord(s: FixtureSegment): FixtureSegment {
  const bytes = readFileSync(s.segmentPath);
  const last = nthLineStart(bytes, s.manifest.recordCount - 1);
  const line = bytes.subarray(last).toString().replace('"producer_id":"gw-1"', '"producer_id":"gw-9"');
  const forged = Buffer.concat([bytes.subarray(0, last), Buffer.from(line)]);
  expect(forged.length).toBe(bytes.length);
  writeFileSync(s.segmentPath, forged);
  const manifest = { ...s.manifest, sha256: createHash('sha256').update(forged).digest('hex') };
  writeFileSync(s.manifestPath, JSON.stringify(manifest));
  return { ...s, manifest };
}

function nthLineStart(buf: Buffer, n: number): number {
  let pos = 0;
  for (let i = 0; i < n; i += 1) pos = buf.indexOf(0x0a, pos) + 1;
  return pos;
}
