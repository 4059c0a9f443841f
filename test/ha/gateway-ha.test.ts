import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, Cluster, KEY_PREFIX } from '../../chaos/cluster.js';
import { checkInvariants } from '../../chaos/invariants.js';
import { runDrill } from '../../ha/drill.js';
import { waitFor } from '../harness/process.js';

const run = promisify(execFile);
const HFT = join(import.meta.dirname, '..', '..', 'src', 'cli', 'hft.ts');

/**
 * Real HA gateway processes (src/gateway/main.ts with ha.enabled) over three real lease nodes, a state
 * Redis, the venue-sim and a strategy worker submitting continuously (V-GW-FAILOVER).
 */
describe('HA gateway processes', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start({
      leaseNodes: 3,
      gateways: 2,
      workers: 1,
      ratePerWorker: 40,
      logLevel: 'info',
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const ordersFromEpochAbove = async (epoch: number) =>
    waitFor(`venue orders from an epoch above ${epoch}`, async () =>
      (await cluster.venue.orders()).some((o) => o.epoch > epoch),
    );

  it('exactly one gateway is ready, and a standby takes over after the leader is SIGKILLed', async () => {
    const leader = await cluster.waitForLeader();
    expect((await cluster.leaders()).length).toBe(1);
    const epoch = await cluster.currentEpoch();
    await leader.kill();
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    await ordersFromEpochAbove(epoch);
    await leader.start();
  });

  it('a leader SIGSTOPped past its TTL is fenced: it comes back STANDBY and never dispatches again', async () => {
    const leader = await cluster.waitForLeader();
    const epoch = await cluster.currentEpoch();
    leader.pause();
    const next = await cluster.waitForLeader();
    expect(next).not.toBe(leader);
    await ordersFromEpochAbove(epoch);
    leader.resume();
    await waitFor('the resumed gateway reports STANDBY', async () => {
      const member = (await cluster.board.members()).find((m) => m.processId === leader.id);
      return member?.role === 'STANDBY';
    });
    expect(await leader.ready()).toBe(false);
    // Whoever leads now (a starved leader may have been replaced again since) holds a newer epoch.
    await cluster.waitForLeader();
    expect(await cluster.currentEpoch()).toBeGreaterThan(epoch);
    const path = (await cluster.board.transitions())
      .filter((t) => t.processId === leader.id && t.epoch === epoch)
      .map((t) => t.to);
    expect(path).toEqual(['ACTIVE', 'FENCED', 'STANDBY']);
  });

  it('refuses the step-down endpoint without the admin token', async () => {
    const leader = await cluster.waitForLeader();
    const res = await fetch(`${leader.opsUrl}/admin/ha/step-down`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(await cluster.waitForLeader()).toBe(leader);
  });

  it('a drill hands over to the standby with nothing answered twice', async () => {
    const leader = await cluster.waitForLeader();
    const report = await runDrill({
      board: cluster.board,
      adminToken: ADMIN_TOKEN,
      venueUrl: cluster.venue.httpUrl,
    });
    expect(report).toMatchObject({ ok: true, from: leader.id, answeredTwice: 0, problems: [] });
    expect(report.newEpoch).toBe(report.oldEpoch + 1);
    expect(report.to).not.toBe(leader.id);
    expect(report.releaseToFirstDispatchMs).not.toBeNull();
  });

  it('hft ha status lists both gateways with one ACTIVE', async () => {
    await cluster.waitForLeader();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', HFT, 'ha', 'status', '--json'], {
      env: { ...process.env, HFT__REDIS__STATE_URL: cluster.state.url, HFT__REDIS__KEY_PREFIX: KEY_PREFIX },
    });
    const status = JSON.parse(stdout) as {
      epoch: number;
      members: Array<{ processId: string; role: string }>;
    };
    expect(status.members.map((m) => m.processId).sort()).toEqual(['gw-1', 'gw-2']);
    expect(status.members.filter((m) => m.role === 'ACTIVE')).toHaveLength(1);
    expect(status.epoch).toBe(await cluster.currentEpoch());
  });

  it('hft policy halt and resume change the cluster policy through the operator script', async () => {
    const env = {
      ...process.env,
      HFT__REDIS__STATE_URL: cluster.state.url,
      HFT__REDIS__KEY_PREFIX: KEY_PREFIX,
    };
    const hft = (...args: string[]) => run(process.execPath, ['--import', 'tsx', HFT, ...args], { env });
    await hft('policy', 'halt', '--reason', 'test halt', '--operator', 'tester');
    expect(await cluster.redis.hget(cluster.keys.policy(), 'mode')).toBe('HALT');
    await expect(hft('policy', 'halt')).rejects.toMatchObject({ code: 2 });
    await hft('policy', 'resume', '--reason', 'test over', '--operator', 'tester');
    expect(await cluster.redis.hgetall(cluster.keys.policy())).toMatchObject({
      mode: 'NORMAL',
      actor: 'operator:tester',
    });
  });

  it('after all of it: no duplicate, no lost acknowledged intent, no stale-epoch order at the venue', async () => {
    const reports = await cluster.finishWorkers();
    const orders = await cluster.venue.orders();
    const unlimited = Number.MAX_SAFE_INTEGER;
    const inv = checkInvariants(orders, reports, [], {
      symbolNotional: unlimited,
      strategyNotional: unlimited,
      accountNotional: unlimited,
    });
    expect(inv.violations).toEqual([]);
    expect(inv.accepted).toBeGreaterThan(0);
    expect(inv.duplicates).toBe(0);
    expect(inv.lost).toBe(0);
    expect(inv.staleEpochOrders).toBe(0);
  });
});
