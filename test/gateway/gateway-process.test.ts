import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newIntent } from '../fixtures/intents.js';
import { waitFor } from '../harness/process.js';
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
});
