/**
 * `npm run cluster` — a local HA cluster with a live status view:
 * Redis lease nodes + state Redis (AOF) + venue-sim + quote feed simulator + gateways in HA mode +
 * strategy workers, all real processes (chaos/cluster.ts, the same launcher the chaos scenarios torture).
 *
 *   npm run cluster -- [--lease-nodes 3] [--gateways 3] [--workers 4] [--rate 50] [--quote-rate 200]
 *
 * With the feed on (the default), every gateway keeps live reference prices and the price collar applies
 * (an intent for a symbol without a fresh reference is rejected); `--quote-rate 0` runs without a feed.
 *
 * The view refreshes every second: leader, epoch, intents/s, p99 submit→decision, rejects, WAL backlog.
 * It prints how to point `hft` at the cluster (state Redis URL, admin token) for `hft ha status|drill`.
 * Ctrl-C stops everything.
 */
import { ADMIN_TOKEN, Cluster, KEY_PREFIX } from '../chaos/cluster.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function walBacklog(opsUrl: string): Promise<string> {
  try {
    const text = await (await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(500) })).text();
    const line = text.split('\n').find((l) => l.startsWith('hft_wal_buffered_bytes'));
    return line ? `${line.split(' ').at(-1)} B` : '- (no WAL recorder in the gateway process)';
  } catch {
    return '-';
  }
}

async function main(): Promise<void> {
  const opts = {
    leaseNodes: arg('lease-nodes', 3),
    gateways: arg('gateways', 3),
    workers: arg('workers', 4),
    ratePerWorker: arg('rate', 50),
    // Live reference prices for the price collar, as in production (0 turns the feed off).
    quoteRate: arg('quote-rate', 200),
  };
  process.stdout.write(`starting ${JSON.stringify(opts)} …\n`);
  const cluster = await Cluster.start(opts);
  const hftEnv = `HFT__REDIS__STATE_URL=${cluster.state.url} HFT__REDIS__KEY_PREFIX='${KEY_PREFIX}' HFT__OPS__ADMIN_TOKEN=${ADMIN_TOKEN}`;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the cluster …\n');
    await cluster.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  for (;;) {
    if (stopping) return;
    const [members, epoch, leaders] = await Promise.all([
      cluster.board.members().catch(() => []),
      cluster.currentEpoch(),
      cluster.leaders(),
    ]);
    const stats = cluster.workers.map((w) => w.stats());
    const rate = stats.reduce((n, s) => n + (s.ratePerSec ?? 0), 0);
    const p99 = Math.max(0, ...stats.map((s) => s.p99Ms ?? 0));
    const rejects = stats.reduce((n, s) => n + (s.rejected ?? 0), 0);
    const leader = leaders[0];
    const lines = [
      '\x1b[2J\x1b[H hft local cluster — Ctrl-C to stop',
      ` venue oracle  ${cluster.venue.httpUrl}/orders   lease nodes ${cluster.leaseNodes.map((n) => n.port).join(', ')}`,
      ` operator      ${hftEnv} npm run hft -- ha status   (or: ha drill --venue ${cluster.venue.httpUrl})`,
      '',
      ` leader  ${leader ? `${leader.id} (${leader.opsUrl})` : 'NONE'}   epoch ${epoch}`,
      ` intents/s ${rate}   p99 ${p99} ms   rejects ${rejects}   WAL backlog ${leader ? await walBacklog(leader.opsUrl) : '-'}`,
      '',
      ' gateway  role           epoch  lease ms  failovers  last takeover ms',
      ...members.map(
        (m) =>
          ` ${m.processId.padEnd(8)} ${m.role.padEnd(14)} ${String(m.epoch).padEnd(6)} ${String(m.leaseRemainingMs).padEnd(9)} ${String(m.failovers).padEnd(10)} ${m.lastFailoverMs ?? '-'}`,
      ),
      '',
    ];
    process.stdout.write(lines.join('\n'));
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
