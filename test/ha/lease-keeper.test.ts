import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedlockLeaseKeeper, holderOf } from '../../ha/redlock-lease-keeper.js';
import type { RedisServer } from '../harness/redis-server.js';
import { spawnTs, waitFor } from '../harness/process.js';
import { haConfig, keeperFor, keys, startLeaseNodes } from './ha-fixtures.js';

const HOLDER = join(import.meta.dirname, 'lease-holder.ts');

async function holderOn(node: RedisServer, leaseName: string): Promise<string | null> {
  const redis = new Redis(node.url, { maxRetriesPerRequest: 0 });
  try {
    return await redis.get(keys.leaderLease(leaseName));
  } finally {
    redis.disconnect();
  }
}

function run(topology: string, nodeCount: number) {
  describe(`redlock lease keeper over ${topology}`, () => {
    let nodes: RedisServer[];
    let a: RedlockLeaseKeeper;
    let b: RedlockLeaseKeeper;
    let leaseName = 'lk';
    let seq = 0;

    beforeAll(async () => {
      nodes = await startLeaseNodes(nodeCount);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await Promise.all(nodes.map((n) => n.stop()));
    });

    async function fresh(overrides: { ttlMs?: number } = {}) {
      await a?.close();
      await b?.close();
      leaseName = `lk-${++seq}`;
      const cfg = haConfig(nodes, { leaseName, ...overrides });
      a = await keeperFor(cfg, 'a');
      b = await keeperFor(cfg, 'b');
      return cfg;
    }

    it('grants the lease to one holder at a time and to the next after release', async () => {
      await fresh();
      const first = await a.tryAcquire();
      expect(first).not.toBeNull();
      expect(await b.tryAcquire()).toBeNull();
      await a.release(first!);
      const second = await b.tryAcquire();
      expect(second).not.toBeNull();
      expect(second!.token).not.toBe(first!.token);
    });

    it('renewal moves validity forward on the monotonic clock', async () => {
      await fresh();
      const lease = (await a.tryAcquire())!;
      await new Promise((r) => setTimeout(r, 20));
      const renewed = await a.renew(lease);
      expect(renewed.ok).toBe(true);
      if (renewed.ok) expect(renewed.lease.validUntilMs).toBeGreaterThan(lease.validUntilMs);
    });

    it('reports the lease lost, not merely unanswered, once another holder has it', async () => {
      const cfg = await fresh();
      const lease = (await a.tryAcquire())!;
      // Let it expire on the nodes without renewing (a paused holder), then let b take it.
      const taken = await waitFor('b to acquire after expiry', () => b.tryAcquire(), {
        timeoutMs: cfg.ttlMs * 5,
        intervalMs: 20,
      });
      expect(taken).not.toBeNull();
      const outcome = await a.renew({ ...lease, validUntilMs: Number.MAX_SAFE_INTEGER });
      expect(outcome).toMatchObject({ ok: false, lost: true });
    });

    // A long TTL keeps the key alive for seconds after it went quiet, so a loaded machine cannot miss the window.
    const LONG_TTL = { ttlMs: 10_000 };

    it('names the holder in the lease value; a connected holder is never breakable, even once quiet', async () => {
      const cfg = await fresh(LONG_TTL);
      const lease = (await a.tryAcquire())!;
      expect(holderOf(lease.token)).toBe(a.connectionName);
      // Not renewed: the key goes quiet, but its holder's lease connections are open.
      const quiet = await waitFor('the key to go quiet', async () => {
        const view = await b.inspect();
        return (
          view.nodes.every((n) => n.token !== null && n.remainingMs <= cfg.ttlMs - cfg.deadHolderQuietMs) &&
          view
        );
      });
      expect(quiet.nodes.every((n) => n.token === lease.token && !n.holderGone)).toBe(true);
      expect(quiet.breakableNow).toBe(0);
      expect(await b.breakDead(quiet)).toBe(0);
      expect(await b.tryAcquire()).toBeNull();
    });

    it("breaks a killed holder's lease once it is quiet, before it expires, and not earlier", async () => {
      const cfg = await fresh();
      const holder = spawnTs(HOLDER, [JSON.stringify({ leaseNodes: cfg.leaseNodes, leaseName })]);
      const token = await waitFor('the holder to acquire', async () => {
        const line = holder
          .output()
          .split('\n')
          .find((l) => l.includes('"holder.ready"'));
        return line ? (JSON.parse(line) as { token: string }).token : undefined;
      });
      holder.child.kill('SIGKILL');
      await holder.exited();
      const gone = await waitFor('the nodes to see the holder gone', async () => {
        const view = await b.inspect();
        return view.nodes.every((n) => n.token === token && n.holderGone) && view;
      });
      // Renewed moments ago: holder gone, but not yet quiet; the CAS refuses even if asked.
      if (gone.breakableNow === 0) {
        expect(await b.breakDead(gone)).toBe(0);
        expect(await b.tryAcquire()).toBeNull();
      }
      const breakable = await waitFor(
        "the dead holder's key to be quiet on a majority",
        async () => {
          const view = await b.inspect();
          return view.breakableNow >= b.quorum && view;
        },
        { intervalMs: 5 },
      );
      // Broken while its TTL still runs: that is the time saved over waiting for expiry.
      expect(breakable.nodes.filter((n) => n.token === token && n.remainingMs > 0).length).toBe(nodeCount);
      expect(await b.breakDead(breakable)).toBeGreaterThanOrEqual(b.quorum);
      expect(await b.tryAcquire()).not.toBeNull();
    });

    it('refuses to break a key that was renewed after it was inspected', async () => {
      await fresh();
      const lease = (await a.tryAcquire())!;
      // A view as a standby could have taken it just before the holder's renewal landed.
      const view = await b.inspect();
      const stale = {
        ...view,
        breakableNow: nodeCount,
        nodes: view.nodes.map((n) => ({ ...n, holderGone: true, remainingMs: 0 })),
      };
      expect((await a.renew(lease)).ok).toBe(true);
      expect(await b.breakDead(stale)).toBe(0);
      expect(await b.tryAcquire()).toBeNull();
    });

    if (nodeCount >= 3) {
      it('keeps renewing with a minority of nodes down, and heals a node that restarted empty', async () => {
        await fresh();
        let lease = (await a.tryAcquire())!;
        await nodes[0]!.kill();
        for (let i = 0; i < 5; i += 1) {
          const outcome = await a.renew(lease);
          expect(outcome.ok).toBe(true);
          if (outcome.ok) lease = outcome.lease;
          expect(await b.tryAcquire()).toBeNull();
        }
        await nodes[0]!.restart();
        // The restarted node lost the key; a renewal puts it back (SET NX) so the majority margin returns.
        await waitFor('restarted node to hold the lease again', async () => {
          const outcome = await a.renew(lease);
          if (outcome.ok) lease = outcome.lease;
          return (await holderOn(nodes[0]!, leaseName)) === lease.token;
        });
      });

      it('cannot renew or acquire without a majority, and says the lease is not positively lost', async () => {
        await fresh();
        const lease = (await a.tryAcquire())!;
        await nodes[0]!.kill();
        await nodes[1]!.kill();
        const outcome = await a.renew(lease);
        expect(outcome).toMatchObject({ ok: false, lost: false });
        expect(await b.tryAcquire()).toBeNull();
        await nodes[0]!.restart();
        await nodes[1]!.restart();
      });
    }
  });
}

run('one node', 1);
run('three nodes', 3);
