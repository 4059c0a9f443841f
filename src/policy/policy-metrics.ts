import { Counter, Gauge, type Registry } from 'prom-client';
import { SEVERITY, type PolicyMode } from './policy-mode.js';

/**
 * `hft_policy_transitions_total{from,to,actor_kind}` counts transitions this process made or observed
 * taking effect locally (actor_kind operator | auto | local); `hft_policy_mode` is the mode this process
 * enforces right now (0 NORMAL, 1 DEGRADED, 2 HALT), read at scrape time from the mode source.
 */
export class PolicyMetrics {
  readonly transitions: Counter<'from' | 'to' | 'actor_kind'>;
  private modeSource: () => PolicyMode = () => 'HALT';

  constructor(registry: Registry) {
    this.transitions = new Counter({
      name: 'hft_policy_transitions_total',
      help: 'Policy mode transitions by from/to mode and actor kind (operator, auto, local)',
      labelNames: ['from', 'to', 'actor_kind'] as const,
      registers: [registry],
    });
    const gauge: Gauge = new Gauge({
      name: 'hft_policy_mode',
      help: 'Policy mode this process enforces: 0 NORMAL, 1 DEGRADED, 2 HALT',
      registers: [registry],
      collect: () => gauge.set(SEVERITY[this.modeSource()]),
    });
  }

  /** Where the gauge reads the enforced mode: PolicyStore's cached mode, then the StormGuard's effective mode. */
  setModeSource(source: () => PolicyMode): void {
    this.modeSource = source;
  }
}
