/**
 * ClickHouse CPU of the post-insert landed check, per query form, against segments inserted directly:
 * `uniqExact(seq)` (the check the loader runs) next to `count()` over the same key range, one check
 * per four segments, and two diagnostics (`SELECT 1`: a query's fixed cost; the check without its string
 * filter), alternating per round, CPU from /proc of the server (so the shared machine's other work hardly moves it). Once with
 * one part per segment as inserted (merges stopped), once after OPTIMIZE FINAL.
 *
 *   npx tsx bench/loader/landed-check-cpu.ts [--segments=24] [--records=50000] [--rounds=6]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ClickHouseServer } from '../../test/harness/clickhouse-server.js';
import { tempDir, waitFor } from '../../test/harness/process.js';
import { writeBacklog } from '../../test/loaders/fixtures.js';
import { type BenchRow, argInt, report } from '../lib/report.js';
import { postFile } from './direct-insert.js';
import { pidOf } from './pin.js';

const segmentCount = argInt('segments', 24);
const records = argInt('records', 50_000);
const rounds = argInt('rounds', 6);

const clickhouse = await ClickHouseServer.start();
const pid = pidOf(clickhouse);
const cpuMs = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * 10;
};
try {
  // Retried: the first query after start-up may meet the readiness probe's keep-alive socket closing.
  await waitFor('stop merges', async () => (await clickhouse.query('SYSTEM STOP MERGES')) === '');
  await clickhouse.query(
    readFileSync('loaders/migrations/0001_wal_events.sql', 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n')
      .replace(/;\s*$/, ''),
  );
  const segments = writeBacklog(tempDir('landed-cpu'), {
    segments: segmentCount,
    recordsPerSegment: records,
  });
  for (const s of segments) await postFile(clickhouse.url, 'default', s.segmentPath);
  type Manifest = (typeof segments)[number]['manifest'];
  const range = (m: Manifest, last = m) =>
    `topic = '${m.topic}' AND producer_id = '${m.producerId}' AND seq >= ${m.firstSeq} AND seq <= ${last.lastSeq}`;
  /** One query per segment: [sql, expected first column]. */
  const perSegment = (sql: (m: Manifest) => string, expected = records) =>
    segments.map((s) => [sql(s.manifest), expected] as const);
  // A topic's segments have contiguous seq ranges: four of them are one key range (fixtures.ts).
  const byTopic = new Map<string, typeof segments>();
  for (const s of segments) byTopic.set(s.manifest.topic, [...(byTopic.get(s.manifest.topic) ?? []), s]);
  const fourPerQuery = [...byTopic.values()].flatMap((list) =>
    Array.from({ length: Math.ceil(list.length / 4) }, (_, i) => {
      const group = list.slice(i * 4, i * 4 + 4).map((s) => s.manifest);
      const sql = `SELECT uniqExact(seq), max(seq) FROM wal_events WHERE ${range(group[0] as Manifest, group.at(-1))}`;
      return [sql, group.length * records] as const;
    }),
  );
  const forms: Record<string, readonly (readonly [string, number])[]> = {
    uniqExact: perSegment((m) => `SELECT uniqExact(seq), max(seq) FROM wal_events WHERE ${range(m)}`),
    count: perSegment((m) => `SELECT count(), max(seq) FROM wal_events WHERE ${range(m)}`),
    // Diagnostics, not checks: what a query costs with no rows, and without the string columns' filter.
    'SELECT 1': perSegment(() => 'SELECT 1', 1),
    'uniqExact, seq range only': perSegment(
      (m) =>
        `SELECT uniqExact(seq), max(seq) FROM wal_events WHERE seq >= ${m.firstSeq} AND seq <= ${m.lastSeq}`,
      // Another topic's records interleave in that seq range (fixtures.ts: seq % topics).
      records * 2 - 1,
    ),
    'uniqExact, 4 segments per query': fourPerQuery,
  };
  const rows: BenchRow[] = [];
  for (const state of ['one part per segment', 'after OPTIMIZE FINAL']) {
    if (state !== 'one part per segment') {
      for (const sql of ['SYSTEM START MERGES', 'OPTIMIZE TABLE wal_events FINAL', 'SYSTEM STOP MERGES']) {
        await waitFor(sql, async () => (await clickhouse.query(sql)) === '');
      }
    }
    const samples = new Map<string, number[]>(Object.keys(forms).map((k) => [k, []]));
    for (let r = 0; r < rounds; r += 1) {
      const order = r % 2 === 0 ? Object.keys(forms) : Object.keys(forms).reverse();
      for (const name of order) {
        const c0 = cpuMs();
        for (const [sql, expected] of forms[name] ?? []) {
          const got = (await waitFor(name, () => clickhouse.query(`${sql} FORMAT TSV`))).split('\t')[0];
          if (Number(got) !== expected) throw new Error(`${name}: ${got}, expected ${expected}`);
        }
        samples.get(name)?.push((cpuMs() - c0) / segmentCount);
      }
    }
    for (const [name, xs] of samples) {
      const sorted = [...xs].sort((a, b) => a - b);
      rows.push({
        name: `${name} (${state})`,
        median_ms_per_segment: Number((sorted[Math.floor(sorted.length / 2)] as number).toFixed(2)),
        all_ms_per_segment: xs.map((x) => x.toFixed(1)).join(' '),
      });
    }
  }
  report('landed-check-cpu', rows, {
    segments: segmentCount,
    records,
    rounds,
    load1: loadavg()[0]?.toFixed(2),
  });
} finally {
  await clickhouse.stop();
}
