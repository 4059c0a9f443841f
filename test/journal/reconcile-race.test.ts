import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { DispatchPermit } from '../../src/gateway/dispatch-permit.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { JournalReader } from '../../src/journal/journal-reader.js';
import { Keyspace } from '../../src/keys.js';
import { Scripts } from '../../src/redis/scripts.js';
import { newIntent } from '../fixtures/intents.js';
import { waitFor } from '../harness/process.js';
import { useRedisAndVenue } from '../harness/testbed.js';
import { client, gatewayConfig, startGateway } from '../gateway/gateway-env.js';
import { ReplyGate } from './reply-gate.js';

const keys = new Keyspace('{hft}');
const bed = useRedisAndVenue({ aof: false });

describe('reconciliation never sends under a live dispatcher', () => {
  // Regression: a gateway whose first send was still queued behind a starved event loop had its intent
  // re-dispatched by periodic reconciliation (its own, or an ACTIVE peer's); the late first send then
  // reached the venue as a second attempt with the same client order id.
  it('a dispatcher stalled between admit and send past its send window sends nothing once reconciliation took the entry over', async () => {
    const gate = await ReplyGate.start(bed.redis.port);
    bed.cleanups.push(() => gate.close());
    const channel = { claimIdleMs: 60_000 }; // the stalled entry stays with its first consumer
    const gateway = { reconcileMinAgeMs: 1_000, reconcileIntervalMs: 50 };
    // Gateway A talks to Redis through the gate; its commands must outlive the stall.
    const configA = gatewayConfig(gate.url, bed.sim, {
      processId: 'gw-a',
      redis: { commandTimeoutMs: 60_000 },
      channel,
      gateway,
    });
    const configB = gatewayConfig(bed.redis.url, bed.sim, { processId: 'gw-b', channel, gateway });
    expect(configA.broker.requestTimeoutMs).toBeLessThan(gateway.reconcileMinAgeMs);
    const admit = new Scripts().get('admitIntent').lua;
    const admitSha = createHash('sha1').update(admit).digest('hex');
    const a = await startGateway(configA);
    bed.cleanups.push(() => a.close());

    const c = await client(configB);
    bed.cleanups.push(() => c.close());
    const envelope = IntentClient.envelope(newIntent(1, { ttl_ms: 60_000 }));
    const coid = deriveClientOrderId(envelope.idempotency_key);
    // ioredis sends a script's body (EVAL) the first time on a connection, its sha (EVALSHA) after.
    gate.holdAfter(admitSha, admit.slice(0, 200));
    const decided = c.submit(envelope);
    // Redis admitted it (attempt 1), and A has not heard so: A is "starved" before its send.
    await waitFor('admitted', async () => (await bed.r.zcard(keys.journalAdmitted())) === 1);
    expect(gate.holding).toBe(true);
    const first = await new JournalReader(bed.r, keys).read(coid);
    expect(first).toMatchObject({ state: 'ADMITTED', attempt: 1, attemptEpoch: a.permit.epoch });

    // An ACTIVE peer under the same epoch (as in test/exposure) reconciles every 50 ms.
    const b = await startGateway(configB, {}, 'bare');
    bed.cleanups.push(() => b.close());
    const peer: DispatchPermit = { epoch: a.permit.epoch, mayDispatch: () => true, onFenced: () => {} };
    await b.gateway.activate(peer);
    await waitFor(
      'peer re-dispatched the orphaned entry',
      async () => (await bed.sim.order(coid)) !== undefined,
    );
    const taken = await new JournalReader(bed.r, keys).read(coid);
    // Not before attempt 1 was orphan-age old by the state Redis clock.
    expect(taken?.attempt).toBe(2);
    expect((taken?.attemptMs ?? 0) - (first?.attemptMs ?? 0)).toBeGreaterThanOrEqual(
      gateway.reconcileMinAgeMs,
    );

    // A wakes up: its send window is long gone, so it sends nothing and answers the stored decision.
    gate.release();
    const decision = await decided;
    expect(decision).toMatchObject({ status: 'ACCEPTED', client_order_id: coid });
    await waitFor('A finished the intent', async () => a.gateway.inFlight() === 0);
    const counters = await bed.sim.counters();
    expect(counters.placeRequests).toBe(1);
    expect(counters.duplicateAttempts).toBe(0);
    expect(a.logs.some((l) => String(l.msg).includes('superseded by reconciliation'))).toBe(true);
    expect((await new JournalReader(bed.r, keys).read(coid))?.state).toBe('DISPATCHED');
  });

  it('leaves an entry alone while its dispatcher is within the send window, even on activation under the same epoch', async () => {
    const g = await startGateway(
      gatewayConfig(bed.redis.url, bed.sim, { gateway: { reconcileMinAgeMs: 60_000 } }),
      {},
      'warm',
    );
    bed.cleanups.push(() => g.close());
    const envelope = IntentClient.envelope(newIntent(2, { ttl_ms: 120_000 }));
    const answer = await g.gateway.store.admit({
      envelope,
      clientOrderId: deriveClientOrderId(envelope.idempotency_key),
      epoch: g.permit.epoch,
      policyFloor: 'NORMAL',
      nowMs: Date.now(),
      deadlineMs: Date.now() + 120_000,
      limits: { symbol: 1e15, strategy: 1e15, account: 1e15 },
      maxTrackedSymbols: 10_000,
    });
    expect(answer.code).toBe(1);
    // Same epoch, attempt younger than the orphan age: its dispatcher may still be about to send.
    await g.gateway.activate(g.permit);
    expect(g.gateway.lastReconcile).toMatchObject({ found: 0, redispatched: 0, expired: 0, live: 1 });
    expect((await bed.sim.counters()).placeRequests).toBe(0);
    // The same entry under a newer epoch is orphaned at once: its leader can no longer send.
    await g.gateway.deactivate();
    const next = await FixedEpochPermit.acquire(g.gateway.redis, g.gateway.keys);
    await g.gateway.activate(next);
    expect(g.gateway.lastReconcile).toMatchObject({ redispatched: 1, live: 0 });
    expect((await bed.sim.counters()).placeRequests).toBe(1);
  });
});
