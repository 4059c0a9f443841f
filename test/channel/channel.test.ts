import type { Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { parseEnvelope } from '../../src/contracts/intent.js';
import { GatewayError, isGatewayError } from '../../src/errors.js';
import { connectRedis } from '../../src/redis/connect.js';
import { newIntent } from '../fixtures/intents.js';
import { spawnTs, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { type RunningConsumer, acceptAll, startConsumer, testChannel } from './consumer-harness.js';

const STREAM = '{hft}:stream:intents';
const DLQ = '{hft}:dlq:intents';

let server: RedisServer;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await RedisServer.start({ aof: true });
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  const redis = await connectRedis({ url: server.url, name: 'flush' });
  await redis.flushall();
  redis.disconnect();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function client(channel = testChannel()): Promise<IntentClient> {
  const c = await IntentClient.connect({ redisUrl: server.url, keyPrefix: '{hft}', channel });
  cleanups.push(() => c.close());
  return c;
}

async function consumer(...args: Parameters<typeof startConsumer> extends [string, ...infer R] ? R : never) {
  const running: RunningConsumer = await startConsumer(server.url, ...args);
  cleanups.push(() => running.close());
  return running;
}

async function counterValue(counter: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value ?? 0;
}

async function settled<T>(promise: Promise<T>): Promise<T | GatewayError> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

describe('intent channel', () => {
  it('delivers intents to the consumer and decisions back to the submitter, leaving the stream empty', async () => {
    await consumer();
    const c = await client();
    const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => c.submit(newIntent(i))));
    expect(new Set(decisions.map((d) => d.intent_id)).size).toBe(50);
    expect(decisions.every((d) => d.status === 'ACCEPTED' && d.client_order_id?.length === 20)).toBe(true);
    const redis = await connectRedis({ url: server.url, name: 'check' });
    expect(await redis.xlen(STREAM)).toBe(0);
    expect((await redis.xpending(STREAM, 'gateway'))[0]).toBe(0);
    redis.disconnect();
  });

  it('answers a retried submit from the stored decision without calling the handler again', async () => {
    let calls = 0;
    await consumer({
      handler: async (delivery) => {
        calls++;
        return acceptAll(delivery);
      },
    });
    const c = await client();
    const first = await c.submit(newIntent(1, { trace_id: 'first' }));
    const again = await c.submit(newIntent(1, { trace_id: 'retry' }));
    expect(again).toEqual(first);
    expect(calls).toBe(1);
  });

  it('carries the idempotency key end to end: the handler sees the key the client derived', async () => {
    const seen: string[] = [];
    await consumer({
      handler: async (delivery) => {
        seen.push(delivery.idempotencyKey, delivery.envelope.idempotency_key);
        return acceptAll(delivery);
      },
    });
    const c = await client();
    const envelope = IntentClient.envelope(newIntent(7));
    const decision = await c.submit(envelope);
    expect(seen).toEqual([envelope.idempotency_key, envelope.idempotency_key]);
    expect(decision.idempotency_key).toBe(envelope.idempotency_key);
  });

  it('survives a lost ack: a consumer killed after processing, before XACK, is taken over by a live one', async () => {
    const c = await client(testChannel({ attemptTimeoutMs: 30_000, maxAttempts: 1 }));
    const crashing = IntentClient.envelope(newIntent(99));
    const child = spawnTs('test/channel/consumer-child.ts', [server.url, 'doomed', crashing.idempotency_key]);
    await waitFor('child consumer ready', async () => child.output().includes('ready'));
    const pending = c.submit(crashing);
    expect(await child.exited()).toBe(-1); // died by SIGKILL inside the handler
    const redis = await connectRedis({ url: server.url, name: 'check' });
    expect(await redis.get(`{hft}:test:handled:${crashing.idempotency_key}`)).toBe('1');
    expect((await redis.xpending(STREAM, 'gateway'))[0]).toBe(1);

    const survivor = await consumer({ name: 'survivor' });
    const decision = await pending;
    expect(decision).toMatchObject({
      status: 'ACCEPTED',
      gateway_id: 'test-gw',
      idempotency_key: crashing.idempotency_key,
    });
    expect(await counterValue(survivor.metrics.claimed)).toBe(1);
    expect((await redis.xpending(STREAM, 'gateway'))[0]).toBe(0);
    expect(await redis.xlen(STREAM)).toBe(0);
    redis.disconnect();
  });

  it('retries after a client timeout and returns the one decision in force', async () => {
    const c = await client(testChannel({ attemptTimeoutMs: 100, maxAttempts: 20 }));
    const pending = c.submit(newIntent(5));
    const redis = await connectRedis({ url: server.url, name: 'check' });
    // No consumer yet: at least two attempts time out and each enqueues the same key again.
    await waitFor('two enqueued attempts', async () => (await redis.xlen(STREAM)) >= 2);
    let calls = 0;
    await consumer({
      handler: async (delivery) => {
        calls++;
        return acceptAll(delivery);
      },
    });
    const decision = await pending;
    const stored = await redis.get(`{hft}:decision:${decision.idempotency_key}`);
    expect(JSON.parse(stored as string)).toEqual(decision);
    await waitFor('stream drained', async () => (await redis.xlen(STREAM)) === 0);
    // The handler may see duplicates delivered in the same batch (it must be idempotent; the gateway's
    // admit script is); whatever it answered later, the first stored decision is the one in force.
    expect(calls).toBeGreaterThanOrEqual(1);
    redis.disconnect();
  });

  it('answers every submit of one key in flight at once with the same decision, including one that has timed out and backs off', async () => {
    const c = await client(
      testChannel({ attemptTimeoutMs: 100, maxAttempts: 3, retryBaseMs: 2_000, retryMaxMs: 2_000 }),
    );
    const early = c.submit(newIntent(8, { trace_id: 'early' }));
    // No consumer yet: the first submit's attempt times out and it backs off (jittered, up to 2 s).
    await new Promise((r) => setTimeout(r, 250));
    const late = c.submit(newIntent(8, { trace_id: 'late' }));
    await consumer();
    const [a, b] = await Promise.all([early, late]);
    expect(b).toEqual(a);
    expect(a.status).toBe('ACCEPTED');
    expect(c.inFlightCount).toBe(0);
  });

  it('fails a submit with GW_ERR_SUBMIT_TIMEOUT when no decision comes within the budget', async () => {
    const c = await client(testChannel({ attemptTimeoutMs: 50, maxAttempts: 2 }));
    const result = await settled(c.submit(newIntent(1)));
    expect(isGatewayError(result, 'GW_ERR_SUBMIT_TIMEOUT')).toBe(true);
    expect((result as GatewayError).details).toMatchObject({ attempts: 2 });
  });

  it('moves a poison message to the dead-letter stream after N deliveries, with the reason, and tells the submitter its outcome is unknown', async () => {
    const channel = testChannel({
      maxDeliveries: 3,
      claimIdleMs: 50,
      attemptTimeoutMs: 30_000,
      maxAttempts: 1,
    });
    let calls = 0;
    const running = await consumer({
      channel,
      handler: async () => {
        calls++;
        throw new Error('venue adapter exploded');
      },
    });
    const c = await client(channel);
    const envelope = IntentClient.envelope(newIntent(13));
    // Not a REJECTED decision: the handler may have dispatched before it threw, so the outcome is unknown.
    const result = await settled(c.submit(envelope));
    expect(isGatewayError(result, 'GW_ERR_OUTCOME_UNKNOWN')).toBe(true);
    expect((result as GatewayError).details).toMatchObject({ reason: 'DEAD_LETTERED' });
    expect(String((result as GatewayError).details.detail)).toContain('venue adapter exploded');
    expect(calls).toBe(3);
    const redis = await connectRedis({ url: server.url, name: 'check' });
    const [[, fields]] = (await redis.xrange(DLQ, '-', '+')) as [[string, string[]]];
    const entry = Object.fromEntries(fields.flatMap((_, i) => (i % 2 ? [] : [[fields[i], fields[i + 1]]])));
    expect(entry).toMatchObject({ deliveries: '4', k: envelope.idempotency_key });
    expect(entry.reason).toContain('venue adapter exploded');
    expect(parseEnvelope(entry.e as string)).toEqual(envelope);
    expect(await redis.xlen(STREAM)).toBe(0);
    expect(await counterValue(running.metrics.deadLettered)).toBe(1);
    redis.disconnect();
  });

  it('answers a malformed envelope with a typed reject, without storing it under the key it claims', async () => {
    const running = await consumer();
    const c = await client();
    const redis = await connectRedis({ url: server.url, name: 'forger' });
    const envelope = IntentClient.envelope(newIntent(3));
    const forged = JSON.stringify({ ...envelope, qty: 2_000 }); // key no longer matches the payload
    await redis.xadd(STREAM, '*', 'k', envelope.idempotency_key, 'e', forged, 'r', '');
    await waitFor('forged entry handled', async () => (await redis.xlen(STREAM)) === 0);
    expect(await counterValue(running.metrics.invalid, { reason: 'ENVELOPE_KEY_MISMATCH' })).toBe(1);
    expect(await redis.get(`{hft}:decision:${envelope.idempotency_key}`)).toBeNull();
    expect((await c.submit(envelope)).status).toBe('ACCEPTED'); // the genuine intent is unaffected
    redis.disconnect();
  });

  it('refuses a submit beyond the in-flight window at once with a typed backpressure error', async () => {
    const c = await client(testChannel({ inFlightMax: 2, attemptTimeoutMs: 300, maxAttempts: 1 }));
    const a = settled(c.submit(newIntent(1)));
    const b = settled(c.submit(newIntent(2)));
    const third = await settled(c.submit(newIntent(3)));
    expect(isGatewayError(third, 'GW_ERR_INFLIGHT_FULL')).toBe(true);
    expect((third as GatewayError).retryable).toBe(true);
    expect(c.inFlightCount).toBe(2);
    await Promise.all([a, b]);
    expect(c.inFlightCount).toBe(0);
  });

  it('caps the stream: a full stream refuses submits without trimming unread intents, and drains', async () => {
    const channel = testChannel({ streamMaxLen: 5, attemptTimeoutMs: 50, maxAttempts: 1 });
    const c = await client(channel);
    const queued = await Promise.all(Array.from({ length: 5 }, (_, i) => settled(c.submit(newIntent(i)))));
    expect(queued.every((r) => isGatewayError(r, 'GW_ERR_SUBMIT_TIMEOUT'))).toBe(true);
    const full = await settled(c.submit(newIntent(5)));
    expect(isGatewayError(full, 'GW_ERR_CHANNEL_FULL')).toBe(true);
    const redis = await connectRedis({ url: server.url, name: 'check' });
    expect(await redis.xlen(STREAM)).toBe(5);
    await consumer({ channel });
    await waitFor('stream drained', async () => (await redis.xlen(STREAM)) === 0);
    // The five intents queued before the cap were decided, not dropped.
    for (let i = 0; i < 5; i++) {
      const key = IntentClient.envelope(newIntent(i)).idempotency_key;
      expect(await redis.get(`{hft}:decision:${key}`)).not.toBeNull();
    }
    expect((await c.submit(newIntent(5))).status).toBe('ACCEPTED');
    redis.disconnect();
  });

  it('applies the cap to each intent of a batched submit in order: the first ones fit, the rest are refused', async () => {
    const channel = testChannel({ streamMaxLen: 5, attemptTimeoutMs: 50, maxAttempts: 1 });
    const c = await client(channel);
    // Seven submits in one tick go to Redis as one script call.
    const results = await Promise.all(Array.from({ length: 7 }, (_, i) => settled(c.submit(newIntent(i)))));
    expect(results.map((r) => (isGatewayError(r) ? r.code : 'decided'))).toEqual([
      ...Array.from({ length: 5 }, () => 'GW_ERR_SUBMIT_TIMEOUT'),
      'GW_ERR_CHANNEL_FULL',
      'GW_ERR_CHANNEL_FULL',
    ]);
    const redis = await connectRedis({ url: server.url, name: 'check' });
    const entries = await redis.xrange(STREAM, '-', '+');
    expect(entries.map(([, fields]) => fields[1])).toEqual(
      Array.from({ length: 5 }, (_, i) => IntentClient.envelope(newIntent(i)).idempotency_key),
    );
    redis.disconnect();
  });
});

describe('intent channel across a Redis restart', () => {
  it('fails in-flight submits with typed errors, never hangs, and recovers when Redis is back', async () => {
    await consumer({ channel: testChannel({ claimIdleMs: 200 }) });
    const c = await client(testChannel({ attemptTimeoutMs: 200, maxAttempts: 3 }));
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      results.push(settled(c.submit(newIntent(i))));
      if (i === 100) await server.kill();
      if (i === 200) await server.restart();
      await new Promise((r) => setTimeout(r, 2));
    }
    const outcomes = await Promise.all(results);
    const failures = outcomes.filter((o) => o instanceof GatewayError) as GatewayError[];
    const codes = new Set(failures.map((f) => f.code));
    for (const code of codes) expect(['GW_ERR_REDIS_UNAVAILABLE', 'GW_ERR_SUBMIT_TIMEOUT']).toContain(code);
    expect(failures.length).toBeGreaterThan(0); // Redis really was gone for part of the run
    // The connections reconnect by themselves (capped backoff, up to 1 s between tries): wait for that,
    // without restarting anything, before checking what every intent's decision is.
    await waitFor(
      'client recovered',
      async () => !((await settled(c.submit(newIntent(0)))) instanceof GatewayError),
    );
    // Every intent, failed or not, now gets a decision; the ones decided before the crash keep theirs.
    const again = await Promise.all(Array.from({ length: 300 }, (_, i) => c.submit(newIntent(i))));
    expect(again.every((d) => d.status === 'ACCEPTED')).toBe(true);
    for (let i = 0; i < 300; i++) {
      const before = outcomes[i];
      if (!(before instanceof GatewayError)) expect(again[i]).toEqual(before);
    }
  });
});
