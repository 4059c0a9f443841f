/**
 * A strategy worker for the local cluster and chaos runs: `tsx chaos/strategy-worker.ts '<json options>'`.
 * Submits NEW intents at a steady rate through the intent channel SDK. An attempt that ends without a
 * decision (timeout, Redis down) has an unknown outcome, so the worker re-submits the *same envelope*
 * (same idempotency key) until it learns the decision — exactly what a correct strategy does. Prints a
 * stats line every second; on SIGTERM stops submitting, settles what is outstanding and writes a report.
 */
import { writeFileSync } from 'node:fs';
import { IntentClient } from '../src/channel/intent-client.js';
import { loadConfig } from '../src/config/load.js';
import type { IntentEnvelope } from '../src/contracts/intent.js';
import { isGatewayError } from '../src/errors.js';
import { CLUSTER_SYMBOLS, WORKER_PRICE_SCALED } from './symbols.js';

export interface WorkerOptions {
  readonly id: string;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly ratePerSec: number;
  /** Share of BUY intents, per mille (500: alternating BUY/SELL). A bias drives exposure to the limits. */
  readonly buyPerMille?: number;
  readonly reportFile: string;
}

export interface IntentOutcome {
  readonly key: string;
  readonly status: 'ACCEPTED' | 'REJECTED' | 'UNKNOWN';
  readonly reason: string | null;
  readonly clientOrderId: string | null;
  readonly epoch: number | null;
}

export interface WorkerReport {
  readonly id: string;
  readonly stats: {
    submitted: number;
    accepted: number;
    rejected: number;
    unknown: number;
    retries: number;
    inFlight: number;
    ratePerSec: number;
    p99Ms: number;
    rejects: Record<string, number>;
  };
  readonly outcomes: IntentOutcome[];
}

const SETTLE_BUDGET_MS = 30_000;
const MAX_IN_FLIGHT = 256;

/** Deterministic side: alternating at 500 ‰; otherwise BUY for `buyPerMille` of every 1000 sequence numbers. */
function sideOf(seq: number, buyPerMille: number): 'BUY' | 'SELL' {
  if (buyPerMille === 500) return seq % 2 === 0 ? 'SELL' : 'BUY';
  // 389 is coprime with 1000, so any 1000 consecutive seqs cover every residue once.
  return (seq * 389) % 1000 < buyPerMille ? 'BUY' : 'SELL';
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
  const config = loadConfig({ overrides: { redis: { stateUrl: opts.redisUrl, keyPrefix: opts.keyPrefix } } });
  const client = await IntentClient.connect({
    redisUrl: opts.redisUrl,
    keyPrefix: opts.keyPrefix,
    channel: { ...config.channel, attemptTimeoutMs: 1_000, maxAttempts: 3, retryBaseMs: 20, retryMaxMs: 200 },
    clientId: opts.id,
  });
  process.stdout.write(`${JSON.stringify({ event: 'worker.ready', id: opts.id })}\n`);
  const outcomes: IntentOutcome[] = [];
  const stats: WorkerReport['stats'] = {
    submitted: 0,
    accepted: 0,
    rejected: 0,
    unknown: 0,
    retries: 0,
    inFlight: 0,
    ratePerSec: 0,
    p99Ms: 0,
    rejects: {},
  };
  let window: number[] = [];
  let windowDecisions = 0;
  let stopping = false;
  const outstanding = new Set<Promise<void>>();

  const settle = async (envelope: IntentEnvelope): Promise<void> => {
    const started = performance.now();
    const deadline = started + SETTLE_BUDGET_MS;
    for (;;) {
      try {
        const decision = await client.submit(envelope);
        window.push(performance.now() - started);
        windowDecisions += 1;
        if (decision.status === 'ACCEPTED') stats.accepted += 1;
        else {
          stats.rejected += 1;
          const reason = decision.reason ?? 'UNKNOWN';
          stats.rejects[reason] = (stats.rejects[reason] ?? 0) + 1;
        }
        outcomes.push({
          key: envelope.idempotency_key,
          status: decision.status,
          reason: decision.reason,
          clientOrderId: decision.client_order_id,
          epoch: decision.epoch,
        });
        return;
      } catch (err) {
        const retryable = isGatewayError(err) && err.retryable;
        if (!retryable || performance.now() > deadline) {
          stats.unknown += 1;
          outcomes.push({
            key: envelope.idempotency_key,
            status: 'UNKNOWN',
            reason: String(err),
            clientOrderId: null,
            epoch: null,
          });
          return;
        }
        stats.retries += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  let seq = 0;
  const startedAt = performance.now();
  const tick = setInterval(() => {
    if (stopping) return;
    const due = Math.floor(((performance.now() - startedAt) / 1000) * opts.ratePerSec);
    while (seq < due && outstanding.size < MAX_IN_FLIGHT) {
      seq += 1;
      const envelope = IntentClient.envelope({
        strategy_id: opts.id,
        account: 'acc-1',
        intent_id: `${opts.id}-${seq}`,
        ttl_ms: 20_000,
        kind: 'NEW',
        symbol: CLUSTER_SYMBOLS[seq % CLUSTER_SYMBOLS.length] as string,
        side: sideOf(seq, opts.buyPerMille ?? 500),
        qty: 1_000,
        price: WORKER_PRICE_SCALED,
        tif: 'DAY',
      });
      stats.submitted += 1;
      const p: Promise<void> = settle(envelope).finally(() => outstanding.delete(p));
      outstanding.add(p);
    }
    // Falling behind the schedule under a long outage: skip rather than burst when it ends.
    if (seq < due) seq = due;
  }, 10);

  const report = setInterval(() => {
    const sorted = window.sort((a, b) => a - b);
    stats.p99Ms = sorted.length ? Math.round((sorted[Math.floor(sorted.length * 0.99)] ?? 0) * 10) / 10 : 0;
    stats.ratePerSec = windowDecisions;
    stats.inFlight = outstanding.size;
    window = [];
    windowDecisions = 0;
    process.stdout.write(`${JSON.stringify({ event: 'worker.stats', id: opts.id, stats })}\n`);
  }, 1_000);

  process.once('SIGTERM', () => {
    stopping = true;
    clearInterval(tick);
    void Promise.allSettled([...outstanding]).then(async () => {
      clearInterval(report);
      stats.inFlight = 0;
      const result: WorkerReport = { id: opts.id, stats, outcomes };
      writeFileSync(opts.reportFile, JSON.stringify(result));
      await client.close();
      process.exit(0);
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`strategy worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
