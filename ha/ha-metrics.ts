import { Counter, Gauge, type Registry } from 'prom-client';
import { ROLES, type Role } from './role.js';

/** The HA metrics of one gateway process (`hft_ha_*`). */
export class HaMetrics {
  private readonly role: Gauge<'role'>;
  readonly epoch: Gauge;
  readonly leaseRemaining: Gauge;
  readonly failovers: Counter;
  readonly lastFailover: Gauge;
  readonly transitions: Counter<'from' | 'to'>;
  readonly renewFailures: Counter<'kind'>;
  readonly fencedAnswers: Counter;
  readonly deadHolderBreaks: Counter;
  readonly connectionFences: Counter;

  constructor(registry: Registry, leaseRemainingSeconds: () => number) {
    this.role = new Gauge({
      name: 'hft_ha_role',
      help: 'HA role of this gateway: 1 for the current role, 0 for the others',
      labelNames: ['role'],
      registers: [registry],
    });
    this.epoch = new Gauge({
      name: 'hft_ha_epoch',
      help: 'Fencing epoch this gateway holds (0 when it never led)',
      registers: [registry],
    });
    this.leaseRemaining = new Gauge({
      name: 'hft_ha_lease_remaining_seconds',
      help: 'Seconds of lease validity left (monotonic clock, safety margin not subtracted); 0 unless leading',
      registers: [registry],
      collect() {
        this.set(Math.max(0, leaseRemainingSeconds()));
      },
    });
    this.failovers = new Counter({
      name: 'hft_ha_failovers_total',
      help: 'Times this gateway won the lease and became ACTIVE',
      registers: [registry],
    });
    this.lastFailover = new Gauge({
      name: 'hft_ha_last_failover_seconds',
      help: 'Last takeover by this gateway: from winning the lease to ready to dispatch (epoch, reconcile, claim)',
      registers: [registry],
    });
    this.transitions = new Counter({
      name: 'hft_ha_transitions_total',
      help: 'Role transitions of this gateway',
      labelNames: ['from', 'to'],
      registers: [registry],
    });
    this.renewFailures = new Counter({
      name: 'hft_ha_lease_renew_failures_total',
      help: 'Lease renewals that failed: lost (held elsewhere) or unanswered (no majority in time)',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.fencedAnswers = new Counter({
      name: 'hft_ha_fenced_answers_total',
      help: 'FENCED answers from state scripts (a newer epoch exists) seen by this gateway',
      registers: [registry],
    });
    this.deadHolderBreaks = new Counter({
      name: 'hft_ha_dead_holder_breaks_total',
      help: 'Lease keys this standby deleted early because the holder was gone (no lease connection, not renewed)',
      registers: [registry],
    });
    this.connectionFences = new Counter({
      name: 'hft_ha_connection_fences_total',
      help: 'Terms this gateway fenced because its connections to a majority of lease nodes closed',
      registers: [registry],
    });
    this.setRole('STANDBY');
  }

  setRole(current: Role): void {
    for (const role of ROLES) this.role.set({ role }, role === current ? 1 : 0);
  }
}
