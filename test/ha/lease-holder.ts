/**
 * A lease holder in its own process, for tests that need a holder to die the way a SIGKILLed gateway does
 * (its kernel closes its lease connections): `tsx test/ha/lease-holder.ts '<json: {leaseNodes, leaseName, ttlMs}>'`.
 * Acquires the lease, prints `{"event":"holder.ready","token":…}`, then renews it every renewIntervalMs.
 */
import { haSection } from '../../ha/config.js';
import { RedlockLeaseKeeper } from '../../ha/redlock-lease-keeper.js';
import { Keyspace } from '../../src/keys.js';
import { createLogger } from '../../src/log.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as {
    leaseNodes: string[];
    leaseName: string;
    ttlMs: number;
  };
  const cfg = haSection.parse({
    enabled: true,
    leaseNodes: opts.leaseNodes,
    leaseName: opts.leaseName,
    ttlMs: opts.ttlMs,
  });
  const keys = new Keyspace('{hfttest}');
  const keeper = await RedlockLeaseKeeper.open(
    cfg,
    keys.leaderLease(cfg.leaseName),
    createLogger({ level: 'silent', processId: 'holder' }),
    { processId: 'holder' },
  );
  let lease = await keeper.tryAcquire();
  while (!lease) {
    await new Promise((r) => setTimeout(r, 20));
    lease = await keeper.tryAcquire();
  }
  process.stdout.write(`${JSON.stringify({ event: 'holder.ready', token: lease.token })}\n`);
  for (;;) {
    await new Promise((r) => setTimeout(r, cfg.renewIntervalMs));
    const outcome = await keeper.renew(lease);
    if (outcome.ok) lease = outcome.lease;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`lease holder failed: ${String(err)}\n`);
  process.exit(1);
});
