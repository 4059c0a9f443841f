import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import type { WalConfigInput } from '../../src/wal/config.js';
import { DiskPressureMonitor, type LevelChange } from '../../src/wal/disk-pressure-monitor.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { tempDir, waitFor } from '../harness/process.js';
import { allRecords, deps, logSink, metricValue, readSegments, walConfig } from './wal-fixtures.js';

const MiB = 1024 * 1024;

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

function errorCode(f: () => unknown): string | number {
  try {
    return f() as number;
  } catch (err) {
    return isGatewayError(err) ? err.code : String(err);
  }
}

async function writerWithDisk(dir: string, disk: NonNullable<WalConfigInput['disk']>, sink = logSink()) {
  const d = deps('gw-1', sink);
  const writer = await WalWriter.open(
    walConfig(dir, { disk: { enabled: true, checkIntervalMs: 60_000, ...disk } }),
    d,
  );
  return { writer, registry: d.registry, sink };
}

const off = { minFreePercent: 0, minFreeBytes: 0 };

describe('disk pressure against the real free space of the temp filesystem', () => {
  it('at HALT refuses every topic with GW_ERR_WAL_HALTED', async () => {
    const dir = tempDir('wal-disk');
    const halt = { minFreePercent: 0, minFreeBytes: freeBytes(dir) * 2 };
    const { writer, registry } = await writerWithDisk(dir, { warn: off, critical: off, halt });
    expect(writer.diskLevel).toBe('HALT');
    for (const topic of ['gateway.intent', 'gateway.fill', 'market.tick'] as const) {
      expect(errorCode(() => writer.record(topic, {}))).toBe('GW_ERR_WAL_HALTED');
    }
    expect(await metricValue(registry, 'hft_wal_disk_level')).toBe(3);
    expect(await metricValue(registry, 'hft_wal_refused_total', { reason: 'halted' })).toBe(3);
    await writer.close();
    expect(allRecords(dir, 'gw-1')).toEqual([]);
  });

  it('at CRITICAL applies each topic policy: write keeps writing, drop is counted, halt refuses', async () => {
    const dir = tempDir('wal-disk');
    const critical = { minFreePercent: 0, minFreeBytes: freeBytes(dir) * 2 };
    const { writer, registry } = await writerWithDisk(dir, {
      warn: off,
      critical,
      halt: off,
      topicPolicies: { 'gateway.fill': 'write', 'market.tick': 'drop', 'ha.role': 'halt' },
    });
    expect(writer.diskLevel).toBe('CRITICAL');
    expect(writer.record('gateway.fill', { a: 1 })).toBe(1);
    expect(writer.record('market.tick', { px: 1 })).toBe(-1);
    expect(writer.record('market.tick', { px: 2 })).toBe(-1);
    expect(errorCode(() => writer.record('ha.role', {}))).toBe('GW_ERR_WAL_HALTED');
    expect(writer.record('gateway.decision', { a: 2 })).toBe(2); // default policy for order topics: write
    expect(await metricValue(registry, 'hft_wal_dropped_total', { topic: 'market.tick' })).toBe(2);
    expect(await metricValue(registry, 'hft_wal_dropped_total', { topic: 'gateway.fill' })).toBe(0);
    await writer.close();
    expect(allRecords(dir, 'gw-1').map((r) => [r.seq, r.topic])).toEqual([
      [1, 'gateway.fill'],
      [2, 'gateway.decision'],
    ]);
  });

  it('keeps the write path working when statfs fails or a hook throws', async () => {
    const dir = tempDir('wal-disk');
    const gone = join(dir, 'volume');
    mkdirSync(gone);
    const sink = logSink();
    const d = deps('gw-1', sink);
    const monitor = new DiskPressureMonitor(gone, walConfig(dir).disk, d);
    expect(await monitor.start()).toBe('OK');
    rmSync(gone, { recursive: true });
    expect(await monitor.check()).toBe('OK');
    expect(await metricValue(d.registry, 'hft_wal_disk_check_failures_total')).toBe(1);
    monitor.stop();

    const critical = { minFreePercent: 0, minFreeBytes: freeBytes(dir) * 2 };
    const { writer } = await writerWithDisk(dir, { warn: off, critical, halt: off });
    writer.disk?.onLevelChange(() => {
      throw new Error('hook bug');
    });
    expect(writer.record('gateway.fill', {})).toBe(1);
    await writer.close();
  });
});

/** Writes `path` until the volume has no byte left (ENOSPC). */
function fillVolume(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 7);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  }
  try {
    for (;;) writeSync(fd, block, 0, 512);
  } catch {}
  closeSync(fd);
}

/** A small dedicated filesystem, when this process may mount one (root in CI containers). */
function mountTmpfs(sizeBytes: number): string | null {
  const dir = tempDir('wal-tmpfs');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return null;
  }
}

const tmpfs = mountTmpfs(16 * MiB);
afterAll(() => {
  // Lazy unmount: a failed test may still hold files open on it.
  if (tmpfs) execFileSync('umount', ['-l', tmpfs], { stdio: 'ignore' });
});

describe.skipIf(tmpfs === null)('disk pressure on a 16 MiB tmpfs filled for real', () => {
  it('walks OK → WARN → CRITICAL → HALT → OK as the volume fills and empties, logging and firing hooks', async () => {
    const root = tmpfs as string;
    const dir = join(root, 'wal');
    const sink = logSink();
    const { writer, registry } = await writerWithDisk(
      dir.replace(/\/wal$/, ''),
      {
        warn: { minFreePercent: 75, minFreeBytes: 0 },
        critical: { minFreePercent: 50, minFreeBytes: 0 },
        halt: { minFreePercent: 25, minFreeBytes: 0 },
      },
      sink,
    );
    const changes: LevelChange[] = [];
    writer.disk?.onLevelChange((c) => changes.push(c));
    expect(writer.diskLevel).toBe('OK');
    const ballast = (name: string, mib: number) =>
      writeFileSync(join(root, name), Buffer.alloc(mib * MiB, 1));
    ballast('b1', 5); // ~31% used
    expect(await writer.disk?.check()).toBe('WARN');
    expect(writer.record('market.tick', { px: 1 })).toBe(1);
    ballast('b2', 4); // ~56% used
    expect(await writer.disk?.check()).toBe('CRITICAL');
    expect(writer.record('market.tick', { px: 2 })).toBe(-1);
    expect(writer.record('gateway.fill', { q: 1 })).toBe(2);
    ballast('b3', 4); // ~81% used
    expect(await writer.disk?.check()).toBe('HALT');
    expect(errorCode(() => writer.record('gateway.fill', { q: 2 }))).toBe('GW_ERR_WAL_HALTED');
    expect(await metricValue(registry, 'hft_wal_disk_level')).toBe(3);
    for (const f of ['b1', 'b2', 'b3']) rmSync(join(root, f));
    expect(await writer.disk?.check()).toBe('OK');
    expect(writer.record('gateway.fill', { q: 3 })).toBe(3);

    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual([
      'OK>WARN',
      'WARN>CRITICAL',
      'CRITICAL>HALT',
      'HALT>OK',
    ]);
    const logged = sink.lines.filter((l) => l.msg === 'WAL disk pressure level changed').map((l) => l.to);
    expect(logged).toEqual(['WARN', 'CRITICAL', 'HALT', 'OK']);
    expect(await metricValue(registry, 'hft_wal_dropped_total', { topic: 'market.tick' })).toBe(1);
    await writer.close();
    expect(allRecords(root, 'gw-1').map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('reaches CRITICAL from the WAL’s own writes and then drops market data while order topics continue', async () => {
    const root = join(tmpfs as string, 'own');
    mkdirSync(root);
    const { writer, registry } = await writerWithDisk(root, {
      warn: off,
      critical: { minFreePercent: 60, minFreeBytes: 0 },
      halt: { minFreePercent: 5, minFreeBytes: 0 },
    });
    const pad = 'p'.repeat(900);
    let dropped = 0;
    for (let i = 0; i < 20_000 && dropped === 0; i++) {
      if (writer.record('market.tick', { i, pad }) === -1) dropped++;
      if (i % 200 === 199) {
        await writer.flush();
        await writer.disk?.check();
      }
    }
    expect(dropped).toBe(1);
    expect(writer.diskLevel).toBe('CRITICAL');
    const seq = writer.record('gateway.intent', { still: 'recorded' });
    expect(seq).toBeGreaterThan(0);
    expect(await metricValue(registry, 'hft_wal_dropped_total', { topic: 'market.tick' })).toBe(1);
    await writer.close();
    const records = allRecords(root, 'gw-1');
    expect(records.at(-1)).toMatchObject({ seq, topic: 'gateway.intent' });
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
  });

  it('keeps records buffered through ENOSPC, refuses with QUEUE_FULL at the bound, and writes them once space returns', async () => {
    const root = join(tmpfs as string, 'enospc');
    mkdirSync(root);
    const d = deps('gw-1');
    const writer = await WalWriter.open(
      walConfig(root, { maxBufferedBytes: 256 * 1024, maxRecordBytes: 4096, segmentMaxBytes: 64 * MiB }),
      d,
    );
    writer.record('gateway.fill', { before: true });
    await writer.flush();
    // Fill the volume to the last byte.
    const ballast = join(tmpfs as string, 'ballast-enospc');
    fillVolume(ballast);

    let accepted = 1;
    for (let i = 0; i < 200; i++, accepted++) writer.record('gateway.fill', { i, pad: 'f'.repeat(100) });
    const flushed = writer.flush();
    await waitFor(
      'a failed write',
      async () => (await metricValue(d.registry, 'hft_wal_write_errors_total')) > 0,
    );
    let refusal: unknown;
    for (let i = 0; i < 10_000 && refusal === undefined; i++) {
      try {
        writer.record('gateway.fill', { i, pad: 'g'.repeat(100) });
        accepted++;
      } catch (err) {
        refusal = err;
      }
    }
    expect(isGatewayError(refusal, 'GW_ERR_WAL_QUEUE_FULL')).toBe(true);
    expect(writer.durableSeq()).toBeLessThan(accepted);

    rmSync(ballast);
    await flushed;
    await writer.flush();
    expect(writer.durableSeq()).toBe(accepted);
    await writer.close();
    const seqs = allRecords(root, 'gw-1').map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: accepted }, (_, i) => i + 1));
  });

  it('retries a seal that failed for lack of space, without a restart', async () => {
    const root = join(tmpfs as string, 'seal');
    mkdirSync(root);
    const d = deps('gw-1');
    const writer = await WalWriter.open(walConfig(root, { segmentMaxAgeMs: 100 }), d);
    writer.record('ha.role', { role: 'ACTIVE' });
    await writer.flush();
    const ballast = join(tmpfs as string, 'ballast-seal');
    fillVolume(ballast);
    // Age rotation now seals: fsync and rename need no space, the manifest does.
    await waitFor(
      'a failed seal',
      async () => (await metricValue(d.registry, 'hft_wal_write_errors_total', { op: 'seal' })) > 0,
    );
    expect(readSegments(root, 'gw-1')[0]?.manifest).toBeNull();
    rmSync(ballast);
    await waitFor('the seal retried', async () => readSegments(root, 'gw-1')[0]?.manifest !== null);
    expect(readSegments(root, 'gw-1')[0]).toMatchObject({
      sealed: true,
      manifest: { recordCount: 1, lastSeq: 1 },
    });
    expect(writer.record('ha.role', { role: 'STANDBY' })).toBe(2);
    await writer.close();
    expect(allRecords(root, 'gw-1').map((r) => r.seq)).toEqual([1, 2]);
  });
});
