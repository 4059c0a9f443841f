/**
 * Where a loader's main thread spent a drain, from a `--cpu-prof` profile of `bench/loader/profile.ts`
 * (`--prof-dir=DIR`): self time per function, and per owner (each sample charged to the nearest frame of
 * a loader module or a package on its stack, so socket writes made by the ClickHouse client count as
 * the client's unless no package frame is above them). Only the drain window counts: from the first to
 * the last sample inside the segment reader, so start-up (module loading, migrations) is left out.
 *
 *   npx tsx bench/loader/cpuprofile-summary.ts DIR/CPU.<...>.cpuprofile [--rows=1200000]
 *
 * Sampled wall time on the main thread, not CPU time: a sample taken while the thread was preempted
 * (two cores shared with ClickHouse) is charged to whatever it was running, and the profiler itself adds
 * some. Use it to rank items, and `profile.ts`'s /proc CPU per row for totals.
 */
import { readFileSync } from 'node:fs';
import { report } from '../lib/report.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const path = process.argv[2];
if (!path || path.startsWith('--')) throw new Error('usage: cpuprofile-summary.ts <file.cpuprofile>');
const rowsArg = process.argv.find((a) => a.startsWith('--rows='))?.split('=')[1];
const rows = rowsArg ? Number(rowsArg) : undefined;
const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parents = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);

const frame = (id: number) => (nodes.get(id) as ProfileNode).callFrame;
const inReader = (id: number) => frame(id).url.endsWith('/loaders/segment-reader.ts');
const first = profile.samples.findIndex(inReader);
let last = profile.samples.length - 1;
while (last > first && !inReader(profile.samples[last] as number)) last -= 1;
if (first < 0) throw new Error('no sample in loaders/segment-reader.ts: not a loader drain profile');

/** The loader module or package a sample belongs to (see the header), else its own function. */
function owner(id: number): string {
  for (let cur: number | undefined = id; cur !== undefined; cur = parents.get(cur)) {
    const url = frame(cur).url;
    const pkg = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/)?.[1];
    if (pkg && pkg !== 'tsx') return pkg;
    const loader = url.match(/\/(loaders\/[^/]+)$/)?.[1];
    if (loader) return loader;
  }
  const f = frame(id);
  return f.functionName.startsWith('(') ? f.functionName : `node: ${f.functionName || '(anonymous)'}`;
}

function self(id: number): string {
  const f = frame(id);
  const where = f.url.replace(/^.*\/(node_modules|loaders)\//, '$1/').replace(/^node:internal\//, '');
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
}

const byOwner = new Map<string, number>();
const byFunction = new Map<string, number>();
let windowUs = 0;
for (let i = first; i <= last; i += 1) {
  // A sample's time is the delta to the next one (the profile records the delta before each sample).
  const us = profile.timeDeltas[i + 1] ?? 0;
  const id = profile.samples[i] as number;
  windowUs += us;
  byOwner.set(owner(id), (byOwner.get(owner(id)) ?? 0) + us);
  byFunction.set(self(id), (byFunction.get(self(id)) ?? 0) + us);
}

function table(name: string, totals: Map<string, number>, top: number): void {
  report(
    name,
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => ({
        name: key,
        ms: Math.round(us / 1_000),
        share: `${((100 * us) / windowUs).toFixed(1)}%`,
        ...(rows ? { nsPerRow: Math.round((us * 1_000) / rows) } : {}),
      })),
    { windowMs: Math.round(windowUs / 1_000), rows },
  );
}

console.log(`drain window: ${(windowUs / 1_000).toFixed(0)} ms of samples\n`);
table('loader-cpuprofile-owner', byOwner, 15);
console.log('');
table('loader-cpuprofile-self', byFunction, 20);
