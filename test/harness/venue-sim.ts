import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TcpBrokerOptions } from '../../src/broker/tcp-broker.js';
import type { FillMode, VenueCounters, VenueFaults, VenueOrderRecord } from '../../src/venue/protocol.js';
import { ManagedServer } from './managed-server.js';
import { spawnTs, waitFor } from './process.js';

const MAIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'venue', 'main.ts');

export interface VenueSimOptions {
  fillMode?: FillMode;
  seed?: number;
  latencyMs?: number;
  maxOrders?: number;
}

export type FaultPatch = Partial<VenueFaults> & { seed?: number };

/**
 * A real venue-sim process (src/venue/main.ts) on free loopback ports, plus typed fetchers for its HTTP
 * oracle. restart() and the kill()/start cycle keep the same ports, so a connected TcpBroker reconnects to
 * the new process; the order log is in memory and does not survive a restart.
 */
export class VenueSim extends ManagedServer {
  private ports = { orderPort: 0, httpPort: 0 };

  private constructor(private readonly opts: VenueSimOptions) {
    super();
  }

  static async start(opts: VenueSimOptions = {}): Promise<VenueSim> {
    const sim = new VenueSim(opts);
    await sim.launch();
    return sim;
  }

  get host(): string {
    return '127.0.0.1';
  }
  get orderPort(): number {
    return this.ports.orderPort;
  }
  get httpPort(): number {
    return this.ports.httpPort;
  }
  get httpUrl(): string {
    return `http://127.0.0.1:${this.ports.httpPort}`;
  }

  /** Settings for a TcpBroker pointed at this venue (override what a test needs). */
  brokerOptions(overrides: Partial<TcpBrokerOptions> = {}): TcpBrokerOptions {
    return {
      host: this.host,
      port: this.orderPort,
      connectTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
      reconnectBaseMs: 20,
      reconnectMaxMs: 200,
      maxInFlight: 10_000,
      ...overrides,
    };
  }

  async orders(): Promise<VenueOrderRecord[]> {
    const body = (await this.get('/orders')) as { orders: VenueOrderRecord[] };
    return body.orders;
  }

  async order(clientOrderId: string): Promise<VenueOrderRecord | undefined> {
    return (await this.orders()).find((o) => o.clientOrderId === clientOrderId);
  }

  async counters(): Promise<VenueCounters> {
    return (await this.get('/counters')) as VenueCounters;
  }

  async faults(): Promise<VenueFaults> {
    return (await this.get('/faults')) as VenueFaults;
  }

  async setFaults(patch: FaultPatch): Promise<VenueFaults> {
    return (await this.post('/faults', patch)) as VenueFaults;
  }

  /** Fills `qty` lots of an open order now; the execution report goes to the gateway as any fill's would. */
  async fill(clientOrderId: string, qty: number): Promise<void> {
    await this.post('/fill', { clientOrderId, qty });
  }

  /** Clears the order log and counters and restores the start-up faults. */
  async reset(): Promise<void> {
    await this.post('/reset', {});
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  protected async launch(): Promise<void> {
    const args = [
      '--order-port',
      String(this.ports.orderPort),
      '--http-port',
      String(this.ports.httpPort),
      '--seed',
      String(this.opts.seed ?? 1),
      '--fill-mode',
      this.opts.fillMode ?? 'immediate',
      '--latency-ms',
      String(this.opts.latencyMs ?? 0),
      ...(this.opts.maxOrders ? ['--max-orders', String(this.opts.maxOrders)] : []),
    ];
    const proc = spawnTs(MAIN, args);
    this.proc = proc;
    const ready = await waitFor(
      'venue-sim listening line',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`venue-sim exited: ${proc.output()}`);
        const line = proc
          .output()
          .split('\n')
          .find((l) => l.includes('"venue-sim.listening"'));
        return line ? (JSON.parse(line) as { orderPort: number; httpPort: number }) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    this.ports = { orderPort: ready.orderPort, httpPort: ready.httpPort };
  }

  private async get(path: string): Promise<unknown> {
    const res = await fetch(`${this.httpUrl}${path}`);
    if (!res.ok) throw new Error(`venue-sim GET ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`venue-sim POST ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }
}
