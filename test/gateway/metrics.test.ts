import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from '../../src/gateway/metrics.js';

async function decisions(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('hft_gateway_decisions_total')?.get();
  return Object.fromEntries(
    (metric?.values ?? []).map((v) => [`${v.labels.outcome}/${v.labels.reason}`, v.value]),
  );
}

describe('gateway metrics', () => {
  it('exports every counted decision exactly once, however often it is collected', async () => {
    const registry = new Registry();
    const metrics = createGatewayMetrics(registry);
    metrics.countDecision('ACCEPTED', 'none');
    metrics.countDecision('ACCEPTED', 'none');
    metrics.countDecision('REJECTED', 'RISK_MAX_QTY');
    expect(await decisions(registry)).toEqual({ 'ACCEPTED/none': 2, 'REJECTED/RISK_MAX_QTY': 1 });
    expect(await decisions(registry)).toEqual({ 'ACCEPTED/none': 2, 'REJECTED/RISK_MAX_QTY': 1 });
    metrics.countDecision('ACCEPTED', 'none');
    await registry.metrics(); // a scrape collects too
    metrics.countDecision('REJECTED', 'POLICY_HALT');
    expect(await decisions(registry)).toEqual({
      'ACCEPTED/none': 3,
      'REJECTED/RISK_MAX_QTY': 1,
      'REJECTED/POLICY_HALT': 1,
    });
  });

  it('reports the intents in the pipeline when collected', async () => {
    const registry = new Registry();
    const metrics = createGatewayMetrics(registry);
    metrics.live.inFlight += 3;
    expect((await metrics.inFlight.get()).values[0]?.value).toBe(3);
    metrics.live.inFlight -= 3;
    expect(await registry.metrics()).toMatch(/^hft_gateway_in_flight 0$/m);
  });
});
