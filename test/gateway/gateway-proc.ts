import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Spawned, spawnTs, tempDir, waitFor } from '../harness/process.js';
import type { VenueSim } from '../harness/venue-sim.js';

const MAIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'gateway', 'main.ts');

/** A real gateway process (src/gateway/main.ts) configured through HFT__ env vars. */
export class GatewayProc {
  private constructor(
    private readonly proc: Spawned,
    readonly opsUrl: string,
  ) {}

  static async start(
    redisUrl: string,
    sim: VenueSim,
    env: Record<string, string> = {},
  ): Promise<GatewayProc> {
    const proc = spawnTs(MAIN, [], {
      env: {
        ...process.env,
        HFT__PROCESS_ID: 'gw-proc',
        HFT__WAL__DIR: tempDir('gateway-wal'),
        HFT__REDIS__STATE_URL: redisUrl,
        HFT__BROKER__HOST: sim.host,
        HFT__BROKER__PORT: String(sim.orderPort),
        HFT__BROKER__REQUEST_TIMEOUT_MS: '500',
        HFT__OPS__PORT: '0',
        HFT__RISK__REJECT_WITHOUT_REFERENCE: 'false',
        HFT__CHANNEL__BLOCK_MS: '50',
        HFT__CHANNEL__CLAIM_IDLE_MS: '300',
        HFT__CHANNEL__CLAIM_INTERVAL_MS: '50',
        HFT__GATEWAY__RECONCILE_MIN_AGE_MS: '1000',
        HFT__GATEWAY__RECONCILE_INTERVAL_MS: '100',
        ...env,
      },
    });
    const ready = await waitFor(
      'gateway.ready log line',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`gateway exited: ${proc.output()}`);
        const line = proc
          .output()
          .split('\n')
          .find((l) => l.includes('"event":"gateway.ready"'));
        return line ? (JSON.parse(line) as { ops: string }) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    return new GatewayProc(proc, ready.ops);
  }

  output(): string {
    return this.proc.output();
  }

  async ready(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.opsUrl}/health/ready`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.opsUrl}/metrics`)).text();
  }

  async kill(): Promise<void> {
    if (this.proc.child.exitCode !== null) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited();
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.proc.child.exitCode !== null) return this.proc.child.exitCode;
    this.proc.child.kill('SIGTERM');
    return this.proc.exited();
  }
}
