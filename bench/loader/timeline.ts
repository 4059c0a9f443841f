/**
 * Per-segment wall-clock timelines of a loader run, from the `timeline` of each loader's "segment loaded
 * and retained" log line (loaders/load-timeline.ts): where a segment's wall time goes, and how many
 * segments were inside each phase on average over the run (e.g. INSERTs in flight, vs the ceiling's 4).
 */
import type { Readable } from 'node:stream';
import type { LoadMark } from '../../loaders/load-timeline.js';

type Marks = Partial<Record<LoadMark, number>>;

const MARKS: readonly LoadMark[] = [
  'enqueued',
  'start',
  'claimed',
  'pass1',
  'loading',
  'inserted',
  'verified',
  'loaded',
  'archived',
];

const PHASES: readonly [string, LoadMark, LoadMark][] = [
  ['queue wait', 'enqueued', 'start'],
  ['manifest+claim', 'start', 'claimed'],
  ['pass 1 (sha256)', 'claimed', 'pass1'],
  ['→LOADING CAS', 'pass1', 'loading'],
  ['insert', 'loading', 'inserted'],
  ['landed check', 'inserted', 'verified'],
  ['→LOADED CAS', 'verified', 'loaded'],
  ['archive', 'loaded', 'archived'],
];

/** Collects timelines from loader stdout streams (JSON log lines, possibly split across chunks). */
export class TimelineCollector {
  readonly segments: { segmentId: string; loader: string; marks: Marks }[] = [];

  watch(loader: string, stdout: Readable | null): void {
    let carry = '';
    stdout?.on('data', (chunk: Buffer) => {
      const lines = (carry + chunk.toString()).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('"timeline"')) continue;
        try {
          const entry = JSON.parse(line) as { segment_id: string; timeline: Marks };
          this.segments.push({ segmentId: entry.segment_id, loader, marks: entry.timeline });
        } catch {
          // not a log line of ours
        }
      }
    });
  }

  /**
   * Phase durations (median and max over segments, ms) and the average number of segments inside each
   * phase over [t0, t1] (sum of phase durations / wall): how much of the run each phase occupied.
   */
  summary(t0: number, t1: number): { name: string; [k: string]: string | number }[] {
    const wall = t1 - t0;
    const rows: { name: string; [k: string]: string | number }[] = [];
    for (const [name, from, to] of PHASES) {
      const d = this.segments
        .map((s) =>
          s.marks[from] !== undefined && s.marks[to] !== undefined ? s.marks[to] - s.marks[from] : NaN,
        )
        .filter((x) => !Number.isNaN(x))
        .sort((a, b) => a - b);
      if (d.length === 0) continue;
      const sum = d.reduce((a, b) => a + b, 0);
      rows.push({
        name,
        segments: d.length,
        p50_ms: round(d[Math.floor(d.length / 2)] as number),
        max_ms: round(d.at(-1) as number),
        sum_ms: Math.round(sum),
        avg_in_phase: round(sum / wall, 2),
      });
    }
    rows.push(...this.occupancy(t0, t1));
    const first = Math.min(...this.segments.map((s) => s.marks.start ?? Infinity));
    const lastArchived = Math.max(...this.segments.map((s) => s.marks.archived ?? -Infinity));
    rows.push({
      name: `run: first start +${round(first - t0)} ms, last archived +${round(lastArchived - t0)} ms, seen ARCHIVED +${round(wall)} ms`,
    });
    return rows;
  }

  /**
   * How much of [t0, t1] ClickHouse had work of ours: the fraction of the run with at least one INSERT in
   * flight, and with an INSERT or a landed check. The rest is when ClickHouse's core could only idle (or
   * merge): start-up before the first INSERT, pass 1 and CASes of segments none of which is inserting,
   * the ramp-down after the last check.
   */
  private occupancy(t0: number, t1: number): { name: string; [k: string]: string | number }[] {
    const spans = (from: LoadMark, to: LoadMark) =>
      this.segments.flatMap((s) => {
        const a = s.marks[from];
        const b = s.marks[to];
        return a !== undefined && b !== undefined ? [[a, b] as const] : [];
      });
    const inserts = spans('loading', 'inserted');
    const clickhouse = spans('loading', 'verified');
    const firstInsert = Math.min(...inserts.map(([a]) => a));
    const lastCheck = Math.max(...clickhouse.map(([, b]) => b));
    return [
      {
        name: 'occupancy (fraction of wall)',
        insert_in_flight: round(covered(inserts, t0, t1) / (t1 - t0), 3),
        insert_or_check: round(covered(clickhouse, t0, t1) / (t1 - t0), 3),
        before_first_insert_ms: round(firstInsert - t0),
        after_last_check_ms: round(t1 - lastCheck),
      },
    ];
  }

  /** Each segment's marks as ms after t0, in start order (for `--timeline`). */
  table(t0: number): { name: string; [k: string]: string | number }[] {
    return [...this.segments]
      .sort((a, b) => (a.marks.start ?? 0) - (b.marks.start ?? 0))
      .map((s) => {
        const row: { name: string; [k: string]: string | number } = { name: `${s.loader} ${s.segmentId}` };
        for (const mark of MARKS) {
          const at = s.marks[mark];
          if (at !== undefined) row[mark] = round(at - t0);
        }
        return row;
      });
  }
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Length of the union of the intervals, clipped to [t0, t1]. */
function covered(spans: readonly (readonly [number, number])[], t0: number, t1: number): number {
  const sorted = spans
    .map(([a, b]) => [Math.max(a, t0), Math.min(b, t1)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of sorted) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}
