/**
 * Lays the stage marks of bench/gateway --trace side by side (src/channel/stage-trace.ts): for each paced
 * rate, the p50/p99/max of every step between consecutive stages of the intents that submitter sent,
 * joined by idempotency key with the gateway's marks. Times come from different processes on one machine
 * (wall clock with sub-µs resolution).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const NAMES = ['submit', 'enqueued', 'read', 'admitted', 'venue ack', 'outcome', 'reply'];

function load(file: string): Map<string, (number | null)[]> {
  const out = new Map<string, (number | null)[]>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [key, row] = JSON.parse(line) as [string, (number | null)[]];
    const have = out.get(key) ?? [];
    row.forEach((v, i) => {
      if (v !== null && v !== undefined) have[i] = v;
    });
    out.set(key, have);
  }
  return out;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function stageReport(dir: string, rates: readonly number[]): void {
  const gateway = load(join(dir, 'gateway.jsonl'));
  for (const rate of rates) {
    const submitter = load(join(dir, `paced-${rate}.jsonl`));
    const steps: number[][] = NAMES.slice(1).map(() => []);
    const total: number[] = [];
    let complete = 0;
    for (const [key, s] of submitter) {
      const g = gateway.get(key) ?? [];
      const row = NAMES.map((_, i) => s[i] ?? g[i] ?? null);
      if (row.some((v) => v === null)) continue;
      complete++;
      for (let i = 1; i < row.length; i++)
        (steps[i - 1] as number[]).push((row[i] as number) - (row[i - 1] as number));
      total.push((row[6] as number) - (row[0] as number));
    }
    console.log(`\nstages at ${rate}/s (${complete} of ${submitter.size} intents with every mark), ms`);
    console.log('step                    p50     p90     p99     max');
    const line = (name: string, xs: number[]) => {
      xs.sort((a, b) => a - b);
      const f = (v: number) => v.toFixed(3).padStart(7);
      console.log(
        `${name.padEnd(22)}${f(pct(xs, 50))} ${f(pct(xs, 90))} ${f(pct(xs, 99))} ${f(xs[xs.length - 1] ?? Number.NaN)}`,
      );
    };
    for (const [i, xs] of steps.entries()) line(`${NAMES[i]} → ${NAMES[i + 1]}`, xs);
    line('submit → reply', total);
  }
}
