import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Spawned, freePort, spawnTs, waitFor } from './process.js';

const MAIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'quotes', 'feed-sim.ts');

export interface FeedSimProcOptions {
  /** Codes, each optionally with its starting price: `2330` or `2330@580.5`. */
  symbols: readonly string[];
  seed?: number;
  rate?: number;
  /** Daily limit band around the reference, in basis points (feed-sim default 1000). */
  limitBps?: number;
}

/**
 * A real feed simulator process serving the quote line stream over TCP (`feed-sim.ts --port`), on a
 * fixed free port so kill() + start() brings the feed back where the gateways reconnect to.
 */
export class FeedSimProc {
  private proc: Spawned | undefined;

  private constructor(
    readonly port: number,
    private readonly opts: FeedSimProcOptions,
  ) {}

  static async start(opts: FeedSimProcOptions): Promise<FeedSimProc> {
    const feed = new FeedSimProc(await freePort(), opts);
    await feed.launch();
    return feed;
  }

  get running(): boolean {
    return this.proc?.child.exitCode === null && this.proc.child.signalCode === null;
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  /** SIGKILL: the feed vanishes as a crashed or partitioned feed handler would. */
  async kill(): Promise<void> {
    if (!this.proc || !this.running) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited();
  }

  async stop(): Promise<void> {
    if (!this.proc || !this.running) return;
    this.proc.child.kill('SIGTERM');
    await this.proc.exited();
  }

  /** Starts a fresh process on the same port. */
  async launch(): Promise<void> {
    const proc = spawnTs(MAIN, [
      `--port=${this.port}`,
      `--symbols=${this.opts.symbols.join(',')}`,
      `--seed=${this.opts.seed ?? 1}`,
      `--rate=${this.opts.rate ?? 500}`,
      ...(this.opts.limitBps !== undefined ? [`--limit-bps=${this.opts.limitBps}`] : []),
    ]);
    this.proc = proc;
    await waitFor(
      'feed-sim listening line',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`feed-sim exited: ${proc.output()}`);
        return proc.output().includes('"feed-sim.listening"');
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
  }
}
