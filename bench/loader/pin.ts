import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { ManagedServer } from '../../test/harness/managed-server.js';

/**
 * `--pin`: simulates ClickHouse on its own host on this 2-core machine. In production ClickHouse runs on
 * its own hosts, so the loader's CPU does not compete with ClickHouse's; here both share two cores, and
 * every µs the loader verifies a row is taken from ClickHouse's parsing. Pinned, ClickHouse (every thread)
 * gets CPU 0 and everything else the bench starts (Redis, the bench process, which is also the direct
 * insert's sender, and the loader processes it spawns, which inherit its affinity) gets CPU 1, for the
 * ceiling and the loaders alike: both then have one core of ClickHouse and one core for the sender or the
 * loader. Other processes on the machine are not pinned and still run on both cores.
 */
export const CLICKHOUSE_CPU = 0;
export const CLIENT_CPU = 1;

/** The pid of a harness server's process. */
export function pidOf(server: ManagedServer): number {
  const pid = server.pid;
  if (pid === undefined) throw new Error('server has no process');
  return pid;
}

/** Every current thread of `pid` onto `cpu`; threads it creates later inherit it from their creator. */
export function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** `Cpus_allowed_list` of every thread of `pid`, e.g. `0 (58 threads)`, or each distinct list when mixed. */
export function affinity(pid: number): string {
  const counts = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread exited meanwhile
    }
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '?';
    counts.set(list, (counts.get(list) ?? 0) + 1);
  }
  return [...counts].map(([list, n]) => `${list} (${n} threads)`).join(', ');
}

export const load1 = () => Number((loadavg()[0] ?? 0).toFixed(2));

/** Prints each process's affinity and the load average; throws if a pinned one is not where it should be. */
export function checkAffinity(
  label: string,
  pids: Record<string, number>,
  expected?: Record<string, number>,
) {
  const seen: Record<string, string> = {};
  for (const [name, pid] of Object.entries(pids)) {
    seen[name] = affinity(pid);
    const want = expected?.[name];
    if (want !== undefined && !new RegExp(`^${want} \\(\\d+ threads\\)$`).test(seen[name]))
      throw new Error(`${name} (pid ${pid}) not pinned to CPU ${want}: ${seen[name]}`);
  }
  console.log(
    `affinity ${label}: ${Object.entries(seen)
      .map(([n, a]) => `${n} pid ${pids[n]} Cpus_allowed_list ${a}`)
      .join('; ')}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  return seen;
}

/** Busy and total jiffies of each CPU so far (/proc/stat; busy = all but idle and iowait). */
export function coreTicks(): { busy: number; total: number }[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.split(/\s+/).slice(1, 9).map(Number);
      const total = f.reduce((a, b) => a + b, 0);
      return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
    });
}

/** How busy each CPU was since `since` (whole machine, every process), e.g. `0.98/0.61`. */
export function coreBusy(since: { busy: number; total: number }[]): string {
  return coreTicks()
    .map((now, i) => {
      const before = since[i] ?? { busy: 0, total: 0 };
      return ((now.busy - before.busy) / Math.max(1, now.total - before.total)).toFixed(2);
    })
    .join('/');
}
