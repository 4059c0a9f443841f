import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { decodeRecord } from '../../src/wal/record.js';
import { newIntent } from '../fixtures/intents.js';
import { tempDir, waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { client, gatewayConfig } from './gateway-env.js';
import { GatewayProc } from './gateway-proc.js';

let redis: RedisServer;
let sim: VenueSim;

beforeAll(async () => {
  [redis, sim] = await Promise.all([RedisServer.start(), VenueSim.start({ fillMode: 'none' })]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), sim.stop()]);
});

describe('gateway process (src/gateway/main.ts)', () => {
  it('serves readiness that follows its ability to dispatch, exports gateway metrics, and exits 0 on SIGTERM', async () => {
    const proc = await GatewayProc.start(redis.url, sim);
    try {
      expect(await proc.ready()).toMatchObject({
        status: 200,
        body: { ready: true, detail: { state: 'ACTIVE' } },
      });
      const c = await client(gatewayConfig(redis.url, sim));
      expect((await c.submit(newIntent(1))).status).toBe('ACCEPTED');
      await c.close();
      const metrics = await proc.metrics();
      for (const name of [
        'hft_gateway_decisions_total{',
        'hft_gateway_dedup_hits_total',
        'hft_gateway_dispatch_latency_seconds_bucket',
        'hft_gateway_queue_lag_seconds',
        'hft_gateway_in_flight',
      ]) {
        expect(metrics).toContain(name);
      }
      expect(metrics).toMatch(/hft_gateway_decisions_total\{outcome="ACCEPTED",reason="none"[^}]*\} 1/);

      await sim.setFaults({ outage: true });
      await waitFor('not ready during the venue outage', async () => (await proc.ready()).status === 503);
      await sim.setFaults({ outage: false });
      await waitFor('ready again', async () => (await proc.ready()).status === 200, { timeoutMs: 10_000 });
    } finally {
      await sim.setFaults({ outage: false });
      expect(await proc.stop()).toBe(0);
    }
  });

  it('records the intent, its dispatch, ack and decision WAL-first, sealed on SIGTERM', async () => {
    const walDir = tempDir('gateway-wal-check');
    const proc = await GatewayProc.start(redis.url, sim, { HFT__WAL__DIR: walDir });
    const envelope = IntentClient.envelope(newIntent(42));
    try {
      const c = await client(gatewayConfig(redis.url, sim));
      expect((await c.submit(envelope)).status).toBe('ACCEPTED');
      await c.close();
    } finally {
      expect(await proc.stop()).toBe(0);
    }
    const seen = new Map<string, string[]>();
    const producerDir = join(walDir, 'gw-proc');
    for (const topic of readdirSync(producerDir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      const dir = join(producerDir, topic.name);
      const files = readdirSync(dir);
      expect(files.filter((f) => f.endsWith('.open'))).toEqual([]); // everything sealed on clean shutdown
      for (const file of files.filter((f) => f.endsWith('.seg'))) {
        const buf = readFileSync(join(dir, file));
        for (let offset = 0; offset < buf.length; ) {
          const result = decodeRecord(buf, offset);
          if (!result.ok) throw new Error(`${file}: ${result.detail}`);
          offset += result.bytes;
          seen.set(topic.name, [...(seen.get(topic.name) ?? []), result.record.payload]);
        }
      }
    }
    for (const topic of ['gateway.intent', 'gateway.dispatch', 'gateway.ack', 'gateway.decision']) {
      const ids = [envelope.intent_id, deriveClientOrderId(envelope.idempotency_key)];
      const found = seen.get(topic)?.some((payload) => ids.some((id) => payload.includes(id)));
      expect(found, topic).toBe(true);
    }
  });
});
