import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HaTransition } from '../../ha/ha-controller.js';
import type { LeasePermit } from '../../ha/lease-permit.js';
import type { RedlockLeaseKeeper } from '../../ha/redlock-lease-keeper.js';
import { Redis } from 'ioredis';
import { RedisServer } from '../harness/redis-server.js';
import { waitFor } from '../harness/process.js';
import {
  type Dispatch,
  type Member,
  PausableKeeper,
  haConfig,
  keeperFor,
  member,
  staleDispatches,
  startLeaseNodes,
} from './ha-fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(topology: string, nodeCount: number) {
  describe(`HA role machine over ${topology}`, () => {
    let nodes: RedisServer[];
    let state: RedisServer;
    let members: Member[] = [];
    let venue: Dispatch[] = [];
    let transitions: HaTransition[] = [];
    let seq = 0;

    beforeAll(async () => {
      [nodes, state] = await Promise.all([startLeaseNodes(nodeCount), RedisServer.start()]);
    });
    afterEach(async () => {
      await Promise.all(members.map((m) => m.node.stop()));
      for (const m of members) m.state.disconnect();
      members = [];
    });
    afterAll(async () => {
      await Promise.all([...nodes, state].map((n) => n.stop()));
    });

    async function group(n: number, pausable = false) {
      venue = [];
      transitions = [];
      const cfg = haConfig(nodes, { leaseName: `grp-${++seq}`, standbyHoldoffMs: 300 });
      for (let i = 0; i < n; i += 1) {
        const id = `gw-${seq}-${i}`;
        const keeper = pausable ? new PausableKeeper(await keeperFor(cfg, id)) : undefined;
        const m = await member(id, cfg, state, venue, keeper);
        m.node.controller.onTransition((t) => transitions.push(t));
        members.push(m);
      }
      for (const m of members) m.node.start();
      const leader = await waitFor('a leader', async () =>
        members.find((m) => m.node.controller.status().role === 'ACTIVE'),
      );
      return { cfg, leader };
    }

    const active = () => members.filter((m) => m.node.controller.status().role === 'ACTIVE');

    it('elects exactly one ACTIVE gateway, which holds a fresh epoch', async () => {
      const { leader } = await group(3);
      await sleep(300);
      expect(active()).toEqual([leader]);
      const epoch = leader.node.controller.status().epoch;
      expect(Number(await leader.state.get('{hfttest}:epoch'))).toBe(epoch);
      expect(leader.target.activations).toBe(1);
      expect(leader.node.controller.readiness().ready).toBe(true);
      for (const m of members.filter((x) => x !== leader)) {
        expect(m.node.controller.readiness().ready).toBe(false);
        expect(m.target.activations).toBe(0);
      }
      await waitFor('dispatches', async () => venue.length > 10);
      expect(new Set(venue.map((d) => d.processId))).toEqual(new Set([leader.target.processId]));
    });

    it('a leader whose renewals stall stops dispatching before a standby can take over', async () => {
      const { leader } = await group(2, true);
      const standby = members.find((m) => m !== leader)!;
      const oldPermit = leader.target.permit as LeasePermit;
      let oldMayDispatchAtTakeover: boolean | undefined;
      standby.node.controller.onTransition((t) => {
        if (t.to === 'ACTIVE') oldMayDispatchAtTakeover = oldPermit.mayDispatch();
      });
      await waitFor('dispatches', async () => venue.length > 10);
      (leader.keeper as PausableKeeper).pause();
      await waitFor('standby takes over', async () => standby.node.controller.status().role === 'ACTIVE', {
        timeoutMs: 10_000,
      });
      expect(oldMayDispatchAtTakeover).toBe(false);
      expect(standby.node.controller.status().epoch).toBeGreaterThan(oldPermit.epoch);
      const leaderPath = transitions.filter((t) => t.processId === leader.target.processId).map((t) => t.to);
      expect(leaderPath).toEqual(['ACTIVE', 'FENCED', 'STANDBY']);
      (leader.keeper as PausableKeeper).resume();
      await waitFor('new leader dispatches', async () => venue.some((d) => d.epoch > oldPermit.epoch));
      await sleep(200);
      expect(staleDispatches(venue)).toEqual([]);
      expect(active()).toEqual([standby]);
    });

    /** Closes, from the node side, every connection named `name` (what a dead process's kernel does). */
    async function killConnections(node: RedisServer, name: string): Promise<number> {
      const admin = new Redis(node.url, { maxRetriesPerRequest: 0 });
      try {
        const list = String(await admin.client('LIST'));
        const ids = [...list.matchAll(/^id=(\d+) .* name=(\S+) /gm)]
          .filter((m) => m[2] === name)
          .map((m) => m[1]);
        for (const id of ids) await admin.client('KILL', 'ID', id as string);
        return ids.length;
      } finally {
        admin.disconnect();
      }
    }

    it('a live leader whose lease connections are cut on a majority fences itself before any new term', async () => {
      const { leader } = await group(2);
      const oldPermit = leader.target.permit as LeasePermit;
      let oldMayDispatchAtTakeover: boolean | undefined;
      for (const m of members) {
        m.node.controller.onTransition((t) => {
          if (t.to === 'ACTIVE' && t.epoch > oldPermit.epoch)
            oldMayDispatchAtTakeover ??= oldPermit.mayDispatch();
        });
      }
      await waitFor('dispatches', async () => venue.length > 10);
      const name = (leader.keeper as RedlockLeaseKeeper).connectionName;
      const killed = await Promise.all(nodes.map((n) => killConnections(n, name)));
      expect(killed.every((k) => k === 1)).toBe(true);
      // Either gateway may win the next term (the fenced one contends again after its holdoff).
      const next = await waitFor(
        'a new term',
        async () =>
          members.find(
            (m) =>
              m.node.controller.status().role === 'ACTIVE' &&
              m.node.controller.status().epoch > oldPermit.epoch,
          ),
        { timeoutMs: 10_000 },
      );
      expect(oldMayDispatchAtTakeover).toBe(false);
      const path = transitions
        .filter((t) => t.processId === leader.target.processId)
        .map((t) => [t.to, t.reason]);
      expect(path[1]?.[0]).toBe('FENCED');
      expect(path[1]?.[1]).toMatch(
        new RegExp(`^lease connections open to \\d/${nodeCount} nodes, below a majority$`),
      );
      await waitFor('the new term dispatches', async () => venue.some((d) => d.epoch > oldPermit.epoch));
      await sleep(200);
      expect(staleDispatches(venue)).toEqual([]);
      expect(active()).toEqual([next]);
    });

    it('a FENCED script answer drops the leader to STANDBY at once', async () => {
      const { leader } = await group(2);
      const permit = leader.target.permit as LeasePermit;
      permit.onFenced(permit.epoch + 1);
      // Synchronously: no dispatch from this permit any more, and the role is FENCED.
      expect(permit.mayDispatch()).toBe(false);
      expect(leader.node.controller.status().role).toBe('FENCED');
      await waitFor(
        'fenced leader back to STANDBY',
        async () => leader.node.controller.status().role === 'STANDBY',
      );
      expect(leader.target.deactivations).toBe(1);
      await waitFor('a new leader', async () => active().length === 1);
      expect(active()[0]!.node.controller.status().epoch).toBeGreaterThan(permit.epoch);
    });

    it('a planned step-down drains, releases the lease and a standby takes over', async () => {
      const { leader } = await group(2);
      const standby = members.find((m) => m !== leader)!;
      const epoch = leader.node.controller.status().epoch;
      const report = await leader.node.controller.stepDown('drill');
      expect(report).toMatchObject({ epoch, drained: true, fenced: false, inFlightAtStepDown: 0 });
      expect(leader.node.controller.status().role).toBe('STANDBY');
      expect(leader.target.deactivations).toBe(1);
      await waitFor('standby takes over', async () => standby.node.controller.status().role === 'ACTIVE');
      expect(standby.node.controller.status().epoch).toBe(epoch + 1);
      const path = transitions.filter((t) => t.processId === leader.target.processId).map((t) => t.to);
      expect(path).toEqual(['ACTIVE', 'STEPPING_DOWN', 'STANDBY']);
      await expect(leader.node.controller.stepDown('again')).rejects.toMatchObject({
        code: 'GW_ERR_NOT_LEADER',
      });
      await waitFor('dispatches under the new epoch', async () => venue.some((d) => d.epoch === epoch + 1));
      expect(staleDispatches(venue)).toEqual([]);
    });

    it('publishes every member and transition on the status board', async () => {
      const { leader } = await group(2);
      await leader.node.publish();
      const board = await leader.node.board.members();
      const mine = board.filter((m) => m.processId.startsWith(`gw-${seq}-`));
      expect(mine.map((m) => m.role).sort()).toEqual(['ACTIVE', 'STANDBY']);
      expect(mine.every((m) => m.leaseNodes === nodeCount)).toBe(true);
      const events = await leader.node.board.transitions();
      expect(events.some((e) => e.processId === leader.target.processId && e.to === 'ACTIVE')).toBe(true);
    });

    if (nodeCount >= 3) {
      it('losing a minority of lease nodes does not change the leader', async () => {
        const { cfg, leader } = await group(2);
        const before = transitions.length;
        await nodes[2]!.kill();
        const count = venue.length;
        await sleep(cfg.ttlMs * 3);
        await nodes[2]!.restart();
        await sleep(cfg.ttlMs * 2);
        expect(transitions.length).toBe(before);
        expect(active()).toEqual([leader]);
        expect(venue.length).toBeGreaterThan(count);
        expect(leader.node.controller.readiness().ready).toBe(true);
      });

      it('losing a majority fences the leader; nobody leads until a majority is back', async () => {
        const { leader } = await group(2);
        await Promise.all([nodes[0]!.kill(), nodes[1]!.kill()]);
        await waitFor('leader fenced', async () => leader.node.controller.status().role !== 'ACTIVE');
        await sleep(500);
        expect(active()).toEqual([]);
        await Promise.all([nodes[0]!.restart(), nodes[1]!.restart()]);
        await waitFor('a leader again', async () => active().length === 1, { timeoutMs: 15_000 });
        expect(staleDispatches(venue)).toEqual([]);
      });
    }
  });
}

run('one lease node', 1);
run('three lease nodes', 3);
