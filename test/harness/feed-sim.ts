import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedServer } from './managed-server.js';
import { freePort, spawnTs, waitFor } from './process.js';

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
export class FeedSimProc extends ManagedServer {
  private constructor(
    readonly port: number,
    private readonly opts: FeedSimProcOptions,
  ) {
    super();
  }

  static async start(opts: FeedSimProcOptions): Promise<FeedSimProc> {
    const feed = new FeedSimProc(await freePort(), opts);
    await feed.launch();
    return feed;
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  /** Starts a fresh process on the same port (after kill(): the feed comes back where gateways reconnect). */
  override async launch(): Promise<void> {
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
