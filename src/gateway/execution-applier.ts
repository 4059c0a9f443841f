import type { Redis } from 'ioredis';
import type { ExecutionReport, OrderState } from '../broker/adapter.js';
import type { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import type { DispatchPermit } from './dispatch-permit.js';
import type { EventSink } from './event-sink.js';
import type { GatewayStore } from './gateway-store.js';
import type { GatewayMetrics } from './metrics.js';
import { GatewayScriptCode } from './script-codes.js';

const TERMINAL: ReadonlySet<OrderState> = new Set<OrderState>(['FILLED', 'CANCELED', 'REJECTED']);

/**
 * Applies execution reports to exposure (reserved → filled; terminal states release the rest), one at a
 * time in arrival order, only while a permit is held. The queue is bounded (`max`): a report arriving at a
 * full queue is dropped and counted (hft_gateway_executions_total{result="dropped"}); the report is
 * idempotent by cumulative quantity, so the next report of the same order, or reconciliation, catches up.
 */
export class ExecutionApplier {
  private readonly queue: ExecutionReport[] = [];
  private draining: Promise<void> | undefined;
  private permit: DispatchPermit | undefined;

  constructor(
    private readonly deps: {
      redis: Redis;
      keys: Keyspace;
      store: GatewayStore;
      metrics: GatewayMetrics;
      events: EventSink;
      logger: Logger;
      max: number;
    },
  ) {}

  setPermit(permit: DispatchPermit | undefined): void {
    this.permit = permit;
  }

  readonly onReport = (report: ExecutionReport): void => {
    if (!this.permit) return;
    if (this.queue.length >= this.deps.max) {
      this.deps.metrics.executions.inc({ result: 'dropped' });
      return;
    }
    this.queue.push(report);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  };

  /** Resolves once every queued report has been applied (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    for (let report = this.queue.shift(); report; report = this.queue.shift()) {
      const permit = this.permit;
      if (!permit) {
        this.queue.length = 0;
        return;
      }
      try {
        await this.apply(report, permit);
      } catch (err) {
        this.deps.metrics.executions.inc({ result: 'failed' });
        this.deps.logger.warn({ err, client_order_id: report.clientOrderId }, 'execution report not applied');
      }
    }
  }

  private async apply(report: ExecutionReport, permit: DispatchPermit): Promise<void> {
    const account = await this.deps.redis.hget(this.deps.keys.journal(report.clientOrderId), 'account');
    if (account === null) {
      this.deps.metrics.executions.inc({ result: 'unknown_order' });
      return;
    }
    if (report.lastQty > 0) this.deps.events.record('gateway.fill', report);
    const answer = await this.deps.store.applyExecution(
      report.clientOrderId,
      account,
      permit.epoch,
      report.cumQty,
      TERMINAL.has(report.state),
      report.state,
    );
    if (answer.code === GatewayScriptCode.FENCED) {
      permit.onFenced(Number(answer.detail));
      return;
    }
    this.deps.metrics.executions.inc({
      result: answer.code === GatewayScriptCode.ADMITTED ? 'applied' : 'noop',
    });
  }
}
