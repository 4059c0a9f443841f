/**
 * Chaos runner: `npm run chaos` (the CI set) or `tsx chaos/run.ts [--scenario NAME[,NAME…]] [--kills N]
 * [--gateways N] [--workers N] [--rate N] [--lease-nodes N]`. Each scenario starts its own real cluster
 * (chaos/cluster.ts: lease nodes, state Redis, venue-sim, HA gateways, strategy workers), injects its
 * faults, checks the invariants from the venue oracle and Redis, prints one JSON summary line, and the
 * process exits 1 when any invariant broke.
 */
import { SCENARIOS, runScenario } from './scenarios.js';

const CI_SET = ['leader-kill', 'leader-pause', 'drill', 'lease-node', 'state-redis', 'venue-outage-failover'];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
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
    // The default account limit: a tighter one makes EXPOSURE rejects bursty enough to trip the reject storm.
    accountNotional: Number(arg('account-notional', '5000000000000')),
  };
  let failed = 0;
  for (const scenario of scenarios) {
    const summary = await runScenario(scenario, { kills, cluster });
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (!summary.ok) failed += 1;
  }
  process.stdout.write(`${JSON.stringify({ event: 'chaos.done', scenarios: scenarios.length, failed })}\n`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos run failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});
