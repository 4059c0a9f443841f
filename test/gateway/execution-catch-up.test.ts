import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Registry } from 'prom-client';
import { createRegistry } from '../../src/metrics/registry.js';
import { newIntent } from '../fixtures/intents.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { VenueSim } from '../harness/venue-sim.js';
import { client, exposureOf, gatewayConfig, startGateway } from './gateway-env.js';

let redis: RedisServer;
let sim: VenueSim;

beforeAll(async () => {
  [redis, sim] = await Promise.all([RedisServer.start({ aof: true }), VenueSim.start({ fillMode: 'none' })]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), sim.stop()]);
});

async function executions(registry: Registry, result: string): Promise<number> {
  const metric = await registry.getSingleMetric('hft_gateway_executions_total')?.get();
  return metric?.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('execution reports during a state Redis outage', () => {
  it('applies a fill the venue reported while the state Redis was down, once it is back', async () => {
    const config = gatewayConfig(redis.url, sim);
    const registry = createRegistry({ process_id: config.processId, component: 'gateway' });
    const g = await startGateway(config, { registry });
    const c = await client(config);
    try {
      const d = await c.submit(newIntent(1, { qty: 10, price: 1_000_000 }));
      expect(d.status).toBe('ACCEPTED');
      expect((await exposureOf(redis.url, 'acc-1')).account).toMatchObject({ rbq: 10, q: 0 });

      await redis.kill();
      // The venue fills the whole order and reports it once, while the gateway cannot write exposure.
      await sim.fill(d.client_order_id ?? '', 10);
      await waitFor(
        'the report parked for a retry',
        async () => (await executions(registry, 'deferred')) > 0,
      );
      await redis.restart();

      const e = await waitFor('fill applied after the restart', async () => {
        const x = await exposureOf(redis.url, 'acc-1').catch(() => undefined);
        return x?.account.q === 10 ? x : undefined;
      });
      expect(e.account).toMatchObject({ q: 10, fn: 10_000_000, rbq: 0, rb: 0 });
      expect(await executions(registry, 'dropped')).toBe(0);
    } finally {
      await c.close();
      await g.close();
    }
  });
});
