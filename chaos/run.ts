/**
 * Chaos runner: `npm run chaos` (the CI set) or `tsx chaos/run.ts [--scenario NAME[,NAME…]] [--kills N]
 * [--gateways N] [--workers N] [--rate N] [--lease-nodes N] [--quote-rate N]`. Each scenario starts its own
 * real cluster (chaos/cluster.ts: lease nodes, state Redis, venue-sim, quote feed, HA gateways collaring on
 * live prices, strategy workers; `--quote-rate 0`: no feed), injects its
 * faults, checks the invariants from the venue oracle and Redis, prints one JSON summary line, and the
 * process exits 1 when any invariant broke.
 */
import { SCENARIOS, runScenario } from './scenarios.js';

const CI_SET = [
  'leader-kill',
  'leader-pause',
  'drill',
  'lease-node',
  'state-redis',
  'venue-outage-failover',
  'exposure-limits',
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** One JSON line, flushed: stdout to a pipe is asynchronous and process.exit() would drop what is pending. */
function print(value: unknown): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(value)}\n`, () => resolve()));
}

async function main(): Promise<void> {
  const scenarios = arg('scenario', CI_SET.join(',')).split(',');
  for (const s of scenarios) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}`);
  const kills = Number(arg('kills', '20'));
  const cluster = {
    leaseNodes: Number(arg('lease-nodes', '3')),
    gateways: Number(arg('gateways', '3')),
    workers: Number(arg('workers', '3')),
    ratePerWorker: Number(arg('rate', '40')),
    // The default account limit; the exposure-limits scenario sets its own tight limits.
    accountNotional: Number(arg('account-notional', '5000000000000')),
    // As `npm run cluster` runs: gateways keep live reference prices and collar every intent on them.
    quoteRate: Number(arg('quote-rate', '100')),
  };
  let failed = 0;
  for (const scenario of scenarios) {
    const summary = await runScenario(scenario, { kills, cluster });
    await print(summary);
    if (!summary.ok) failed += 1;
  }
  await print({ event: 'chaos.done', scenarios: scenarios.length, failed });
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos run failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
