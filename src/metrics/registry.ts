import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process (never the prom-client global), so tests can build several components in one
 * process without metric-name collisions. Every metric is prefixed `hft_`.
 */
export function createRegistry(labels: { process_id: string; component: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'hft_process_' });
  return registry;
}
