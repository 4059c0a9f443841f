import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Shared plumbing for tests that run real processes: free ports, temp dirs, and a registry of spawned
 * children that are killed when the test process exits, however it exits.
 */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (!process.env.HFT_KEEP_TMP) for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A port that is free now and stays free: picked below the kernel's ephemeral range, so no outgoing
 * connection is ever given it as its local port. Servers in tests are killed and restarted on the same
 * port; a port from the ephemeral range (what `listen(0)` returns) can be taken in between by any client
 * socket, and the restart then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const ceiling = Math.max(floor + 1_000, low) - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = floor + Math.floor(Math.random() * (ceiling - floor));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port below the ephemeral range after 200 tries');
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: fall through to the IANA dynamic range
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hft-${label}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

export interface Spawned {
  readonly child: ChildProcess;
  /** Everything the child wrote to stdout and stderr so far (for assertion messages). */
  output(): string;
  exited(): Promise<number | null>;
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): Spawned {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? -1 : null));
    });
  });
  return { child, output: () => output, exited: () => exit };
}

/** Node running a TypeScript entrypoint through tsx (the same loader the npm scripts use). */
export function spawnTs(script: string, args: string[] = [], options: SpawnOptions = {}): Spawned {
  return spawnTracked(process.execPath, ['--import', 'tsx', script, ...args], options);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  { timeoutMs = 30_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
