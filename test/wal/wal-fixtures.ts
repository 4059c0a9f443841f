import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { type Logger, createLogger } from '../../src/log.js';
import { type WalConfig, type WalConfigInput, walSection } from '../../src/wal/config.js';
import { MANIFEST_SUFFIX, OPEN_SUFFIX, SEALED_SUFFIX, type SegmentManifest } from '../../src/wal/manifest.js';
import { type WalRecord, decodeRecord } from '../../src/wal/record.js';

/** Shared helpers for the WAL suites: config, an in-memory log sink, and a reader of a WAL directory. */
export function walConfig(dir: string, overrides: Omit<WalConfigInput, 'dir'> = {}): WalConfig {
  return walSection.parse({ dir, ...overrides, disk: { enabled: false, ...overrides.disk } });
}

export interface LogSink {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
}

export function logSink(): LogSink {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', processId: 'test' }, stream), lines };
}

export function deps(producerId = 'gw-1', sink: LogSink = logSink()) {
  return { producerId, logger: sink.logger, registry: new Registry() };
}

export interface SegmentOnDisk {
  readonly topic: string;
  readonly file: string;
  readonly sealed: boolean;
  readonly manifest: SegmentManifest | null;
  readonly records: WalRecord[];
}

/**
 * Every segment of a producer (sealed and open, not quarantined), decoded strictly. With `cache`, a sealed
 * segment read before is decoded again only if its size changed (sealed segments are immutable).
 */
export function readSegments(
  root: string,
  producerId: string,
  cache?: Map<string, SegmentOnDisk>,
): SegmentOnDisk[] {
  const out: SegmentOnDisk[] = [];
  const producerDir = join(root, producerId);
  if (!existsSync(producerDir)) return out;
  for (const topic of readdirSync(producerDir)) {
    const dir = join(producerDir, topic);
    if (topic.endsWith('.json')) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith(SEALED_SUFFIX) && !name.endsWith(OPEN_SUFFIX)) continue;
      const cached = cache?.get(join(dir, name));
      if (cached?.manifest && statSync(cached.file).size === cached.manifest.bytes) {
        out.push(cached);
        continue;
      }
      const buf = readFileSync(join(dir, name));
      const records: WalRecord[] = [];
      let offset = 0;
      while (offset < buf.length) {
        const r = decodeRecord(buf, offset);
        if (!r.ok) throw new Error(`${name}: ${r.reason} ${r.detail}`);
        records.push(r.record);
        offset += r.bytes;
      }
      const id = name.slice(0, name.lastIndexOf('.'));
      const manifestPath = join(dir, id + MANIFEST_SUFFIX);
      out.push({
        topic,
        file: join(dir, name),
        sealed: name.endsWith(SEALED_SUFFIX),
        manifest: existsSync(manifestPath)
          ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as SegmentManifest)
          : null,
        records,
      });
    }
  }
  return out;
}

export function allRecords(root: string, producerId: string): WalRecord[] {
  return readSegments(root, producerId)
    .flatMap((s) => s.records)
    .sort((a, b) => a.seq - b.seq);
}

export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
    .reduce((n, v) => n + v.value, 0);
}
