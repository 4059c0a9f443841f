import { beforeEach, describe, expect, it } from 'vitest';
import { TcpBroker } from '../../src/broker/tcp-broker.js';
import { IntentClient } from '../../src/channel/intent-client.js';
import type { Config } from '../../src/config/schema.js';
import { parseDecision } from '../../src/contracts/decision.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { isGatewayError } from '../../src/errors.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { GatewayScriptCode } from '../../src/gateway/script-codes.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { Keyspace } from '../../src/keys.js';
import { newIntent } from '../fixtures/intents.js';
import { waitFor } from '../harness/process.js';
import { useRedisAndVenue } from '../harness/testbed.js';
import {
  type RunningGateway,
  client,
  exposureOf,
  gatewayConfig,
  startGateway,
} from '../gateway/gateway-env.js';
import { GatewayProc } from '../gateway/gateway-proc.js';

let config: Readonly<Config>;
const keys = new Keyspace('{hft}');
const bed = useRedisAndVenue({ aof: true });
beforeEach(() => {
  config = gatewayConfig(bed.redis.url, bed.sim);
});

/** Admits an intent through the real admit script without dispatching: a gateway that died right after. */
async function admitOnly(g: RunningGateway, envelope: IntentEnvelope, deadlineMs: number) {
  const answer = await g.gateway.store.admit({
    envelope,
    clientOrderId: deriveClientOrderId(envelope.idempotency_key),
    epoch: g.permit.epoch,
    policyFloor: 'NORMAL',
    nowMs: Date.now(),
    deadlineMs,
    limits: { symbol: 1e15, strategy: 1e15, account: 1e15 },
    maxTrackedSymbols: 10_000,
  });
  expect(answer.code).toBe(GatewayScriptCode.ADMITTED);
}

/** The next leader's permit (INCR): what a restarted or failed-over gateway activates with. */
async function successor(g: RunningGateway): Promise<FixedEpochPermit> {
  return FixedEpochPermit.acquire(g.gateway.redis, g.gateway.keys);
}

async function storedDecision(key: string) {
  const text = await bed.r.get(keys.decision(key));
  return text === null ? null : parseDecision(text);
}

describe('journal reconciliation', () => {
  it('re-dispatches an ADMITTED intent the venue never saw, with the same client order id, once', async () => {
    const g = await startGateway(config, {}, 'warm');
    bed.cleanups.push(() => g.close());
    const envelope = IntentClient.envelope(newIntent(1, { ttl_ms: 60_000 }));
    await admitOnly(g, envelope, Date.now() + 60_000);
    await g.gateway.activate(await successor(g));
    expect(g.gateway.lastReconcile).toMatchObject({ found: 0, redispatched: 1, expired: 0, failed: 0 });
    const coid = deriveClientOrderId(envelope.idempotency_key);
    expect((await bed.sim.orders()).map((o) => o.clientOrderId)).toEqual([coid]);
    expect(await storedDecision(envelope.idempotency_key)).toMatchObject({
      status: 'ACCEPTED',
      client_order_id: coid,
    });
    expect((await new JournalReader(bed.r, keys).read(coid))?.state).toBe('DISPATCHED');
    expect(await bed.r.zcard(keys.journalAdmitted())).toBe(0);
  });

  it('expires an ADMITTED intent past its ttl: JOURNAL_EXPIRED stored, exposure released, nothing sent', async () => {
    const g = await startGateway(config, {}, 'warm');
    bed.cleanups.push(() => g.close());
    const envelope = IntentClient.envelope(newIntent(1));
    await admitOnly(g, envelope, Date.now() - 1);
    expect((await exposureOf(bed.redis.url, 'acc-1')).account.rbq).toBe(1_000);
    await g.gateway.activate(await successor(g));
    expect(g.gateway.lastReconcile).toMatchObject({ redispatched: 0, expired: 1 });
    expect(await bed.sim.orders()).toEqual([]);
    expect(await storedDecision(envelope.idempotency_key)).toMatchObject({
      status: 'REJECTED',
      reason: 'JOURNAL_EXPIRED',
    });
    const e = await exposureOf(bed.redis.url, 'acc-1');
    expect(e.account).toMatchObject({ rbq: 0, rb: 0 });
    // A submitter retrying the key learns the expiry; nothing is sent.
    const c = await client(config);
    bed.cleanups.push(() => c.close());
    expect((await c.submit(envelope)).reason).toBe('JOURNAL_EXPIRED');
    expect((await bed.sim.counters()).placeRequests).toBe(0);
  });

  it('leaves a broker timeout ADMITTED (never resent blindly) and resolves it from the venue by client order id', async () => {
    const g = await startGateway(config);
    bed.cleanups.push(() => g.close());
    await bed.sim.setFaults({ dropReplyPerMille: 1_000 });
    const c = await client(
      gatewayConfig(bed.redis.url, bed.sim, { channel: { attemptTimeoutMs: 1_000, maxAttempts: 10 } }),
    );
    bed.cleanups.push(() => c.close());
    const envelope = IntentClient.envelope(newIntent(1, { ttl_ms: 60_000 }));
    const pending = c.submit(envelope);
    const coid = deriveClientOrderId(envelope.idempotency_key);
    await waitFor('venue got the order', async () => (await bed.sim.order(coid)) !== undefined);
    await waitFor('place timed out', async () => (await g.gateway.metrics.errors.get()).values.length > 0);
    // Still ADMITTED: the outcome is unknown, and the venue saw exactly one place request.
    expect((await new JournalReader(bed.r, keys).read(coid))?.state).toBe('ADMITTED');
    await bed.sim.setFaults({ dropReplyPerMille: 0 });
    const decision = await pending;
    expect(decision).toMatchObject({ status: 'ACCEPTED', client_order_id: coid });
    expect((await new JournalReader(bed.r, keys).read(coid))?.state).toBe('DISPATCHED');
    const counters = await bed.sim.counters();
    expect(counters.placeRequests).toBe(1);
    expect(counters.duplicateAttempts).toBe(0);
  });

  it('after the gateway process is killed between admit and record, a restarted gateway reconciles to one order', async () => {
    await bed.sim.setFaults({ latencyMs: 1_500 });
    const first = await GatewayProc.start(bed.redis.url, bed.sim);
    bed.cleanups.push(() => first.kill());
    const c = await client(
      gatewayConfig(bed.redis.url, bed.sim, { channel: { attemptTimeoutMs: 1_000, maxAttempts: 20 } }),
    );
    bed.cleanups.push(() => c.close());
    const envelopes = Array.from({ length: 5 }, (_, i) =>
      IntentClient.envelope(newIntent(i, { ttl_ms: 60_000 })),
    );
    const pending = envelopes.map((e) => c.submit(e));
    await waitFor('all admitted', async () => (await bed.r.zcard(keys.journalAdmitted())) === 5);
    await first.kill();
    await bed.sim.setFaults({ latencyMs: 0 });
    const second = await GatewayProc.start(bed.redis.url, bed.sim);
    bed.cleanups.push(() => second.kill());
    const decisions = await Promise.all(pending);
    expect(decisions.every((d) => d.status === 'ACCEPTED')).toBe(true);
    const orders = await bed.sim.orders();
    expect(orders.map((o) => o.clientOrderId).sort()).toEqual(decisions.map((d) => d.client_order_id).sort());
    expect((await bed.sim.counters()).duplicateAttempts).toBe(0);
    expect(await bed.r.zcard(keys.journalAdmitted())).toBe(0);
    expect((await exposureOf(bed.redis.url, 'acc-1')).account.rbq).toBe(5_000);
  });

  it('catches exposure up on activation with orders that closed at the venue while no gateway was active', async () => {
    const first = await startGateway(config);
    const c = await client(config);
    bed.cleanups.push(() => c.close());
    const open = await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }));
    const other = await c.submit(newIntent(2, { qty: 3, price: 1_000_000 }));
    expect(await bed.r.zcard(keys.journalOpen())).toBe(2);
    await first.close();
    // The venue cancels one order while nobody holds a permit: its CANCELED report is not applied.
    const outsider = await TcpBroker.connect(bed.sim.brokerOptions());
    bed.cleanups.push(() => outsider.close());
    expect((await outsider.cancel(open.client_order_id ?? '', 0)).state).toBe('CANCELED');
    expect((await exposureOf(bed.redis.url, 'acc-1')).account.rbq).toBe(13);
    const second = await startGateway(config);
    bed.cleanups.push(() => second.close());
    // The sync runs alongside consuming (docs/gateway.md, "Activation"): wait for it.
    expect(await second.gateway.openOrdersSynced()).toMatchObject({ synced: 2, unknown: 0, failed: 0 });
    expect(second.gateway.lastOpenOrders).toMatchObject({ synced: 2, unknown: 0, failed: 0 });
    expect((await exposureOf(bed.redis.url, 'acc-1')).account).toMatchObject({ rbq: 3, rb: 3_000_000 });
    expect(await bed.r.zrange(keys.journalOpen(), 0, -1)).toEqual([other.client_order_id]);
  });

  it('stops before consuming when deactivated during activation (reconciliation still running)', async () => {
    const g = await startGateway(config, {}, 'warm');
    bed.cleanups.push(() => g.close());
    await admitOnly(g, IntentClient.envelope(newIntent(1, { ttl_ms: 60_000 })), Date.now() + 60_000);
    await bed.sim.setFaults({ latencyMs: 300 });
    const next = await successor(g);
    const activation = g.gateway.activate(next).catch((err: unknown) => err);
    await waitFor('activating', async () => g.gateway.state === 'ACTIVATING');
    await g.gateway.deactivate();
    expect(isGatewayError(await activation, 'GW_ERR_NOT_LEADER')).toBe(true);
    expect(g.gateway.state).toBe('STANDBY');
    expect(g.gateway.readiness().ready).toBe(false);
    await bed.sim.setFaults({ latencyMs: 0 });
    // It can be activated again later, and then decides.
    await g.gateway.activate(next);
    const c = await client(config);
    bed.cleanups.push(() => c.close());
    expect((await c.submit(newIntent(2))).status).toBe('ACCEPTED');
  });
});
