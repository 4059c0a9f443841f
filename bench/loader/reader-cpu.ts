/**
 * CPU per row of the loader's read path alone (no ClickHouse, no Redis): pass 1 (size + sha256) and pass 2
 * (every line's shape/seq check, batches cut but not sent) over the same 50,000-record segment, in
 * alternating passes so two implementations share the same machine minutes. CPU is process.cpuUsage (user
 * + system), so it hardly depends on what else the shared machine runs; wall time would.
 *
 *   npx tsx bench/loader/reader-cpu.ts [--passes=20] [--records=50000] [--baseline=loaders/other-reader.ts]
 *
 * With --baseline, that module's SegmentReader runs in the alternate passes (e.g. a copy of the previous
 * version); without it, only the current reader runs.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { SegmentReader } from '../../loaders/segment-reader.js';
import { tempDir } from '../../test/harness/process.js';
import { type FixtureSegment, writeBacklog } from '../../test/loaders/fixtures.js';
import { argInt, median } from '../lib/report.js';

const passes = argInt('passes', 20);
const records = argInt('records', 50_000);
const baselinePath = process.argv.find((a) => a.startsWith('--baseline='))?.split('=')[1];

type ReaderClass = typeof SegmentReader;
const impls: [string, ReaderClass][] = [['current', SegmentReader]];
if (baselinePath) {
  const mod = (await import(resolve(baselinePath))) as { SegmentReader: ReaderClass };
  impls.unshift(['baseline', mod.SegmentReader]);
}

// Two topics like the loader bench: the same segment shape the loader sees.
const segment = writeBacklog(tempDir('reader-cpu'), {
  segments: 1,
  recordsPerSegment: records,
})[0] as FixtureSegment;

async function once(Reader: ReaderClass): Promise<{ pass1: number; pass2: number }> {
  const c0 = process.cpuUsage();
  await Reader.verifyFile(segment.segmentPath, segment.manifest);
  const c1 = process.cpuUsage(c0);
  const reader = new Reader(segment.segmentPath, segment.manifest, {
    batchRows: 50_000,
    batchBytes: 1 << 30,
  });
  let rows = 0;
  for (;;) {
    const piece = await reader.nextPiece();
    if (piece.kind === 'eof') break;
    if (piece.kind === 'batch-end') rows += piece.batch.rows;
  }
  const c2 = process.cpuUsage(c0);
  if (rows !== records) throw new Error(`read ${rows} rows`);
  const us = (c: NodeJS.CpuUsage) => c.user + c.system;
  return { pass1: (us(c1) * 1_000) / records, pass2: ((us(c2) - us(c1)) * 1_000) / records };
}

const results = new Map<string, { pass1: number[]; pass2: number[] }>(
  impls.map(([name]) => [name, { pass1: [], pass2: [] }]),
);
for (const [, Reader] of impls) await once(Reader); // warm-up (JIT, page cache)
for (let i = 0; i < passes; i += 1) {
  for (const [name, Reader] of i % 2 === 0 ? impls : [...impls].reverse()) {
    const r = await once(Reader);
    results.get(name)?.pass1.push(r.pass1);
    results.get(name)?.pass2.push(r.pass2);
  }
}
const summary: Record<string, unknown> = { records, passes, load1: loadavg()[0]?.toFixed(2) };
console.log('impl      pass1 ns/row  pass2 ns/row  total ns/row  (medians)');
for (const [name, r] of results) {
  const p1 = median(r.pass1);
  const p2 = median(r.pass2);
  const total = median(r.pass1.map((x, i) => x + (r.pass2[i] as number)));
  console.log(
    `${name.padEnd(9)} ${p1.toFixed(0).padStart(12)}  ${p2.toFixed(0).padStart(12)}  ${total.toFixed(0).padStart(12)}`,
  );
  summary[name] = {
    pass1NsPerRow: Math.round(p1),
    pass2NsPerRow: Math.round(p2),
    totalNsPerRow: Math.round(total),
  };
}
console.log(JSON.stringify(summary));
