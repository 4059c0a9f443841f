import type { ExecutionReport, OrderState } from '../broker/adapter.js';
import type { Logger } from '../log.js';
import type { DispatchPermit } from './dispatch-permit.js';
import type { EventSink } from './event-sink.js';
import type { GatewayStore } from './gateway-store.js';
import type { GatewayMetrics } from './metrics.js';
import { GatewayScriptCode } from './script-codes.js';

const TERMINAL: ReadonlySet<OrderState> = new Set<OrderState>(['FILLED', 'CANCELED', 'REJECTED']);

/** Reports (for distinct orders) applied concurrently; see drain(). */
const APPLY_WAVE = 32;

/** Whether `a` says at least as much as `b` about one order: a terminal state, or more filled. */
function isNewer(a: ExecutionReport, b: ExecutionReport): boolean {
  if (TERMINAL.has(b.state) && !TERMINAL.has(a.state)) return false;
  return TERMINAL.has(a.state) || a.cumQty >= b.cumQty;
}

/**
 * Applies execution reports to exposure (reserved → filled; terminal states release the rest), one at a
 * time in arrival order, only while a permit is held.
 *
 * Nothing a venue reports is lost to a transient failure: a report that cannot be applied (state Redis
 * down or slow) or that meets a full queue is parked, latest per order, and retried every `retryMs` while
 * the permit is held (result="deferred"). The venue sends a fill once; without this, a fill reported
 * during a state Redis outage stayed reserved-but-unfilled until the next leader's open-order sync (seen
 * in chaos: exposure disagreed with the venue after a state Redis restart). Reports are idempotent by
 * cumulative quantity, so a parked report applied after a newer one changes nothing.
 *
 * Bounds: the queue holds `max` reports and the parking lot `max` orders; a report for a new order at a
 * full parking lot is dropped and counted (result="dropped"), and the open-order sync at the next
 * activation catches that order up. Losing the permit clears both: the next leader syncs open orders.
 */
export class ExecutionApplier {
  private readonly queue: ExecutionReport[] = [];
  /** Reports not applied yet because of a failure or a full queue: the latest per client order id. */
  private readonly parked = new Map<string, ExecutionReport>();
  private retryTimer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private permit: DispatchPermit | undefined;

  constructor(
    private readonly deps: {
      store: GatewayStore;
      metrics: GatewayMetrics;
      events: EventSink;
      logger: Logger;
      max: number;
      /** How often parked reports are retried while the permit is held. */
      retryMs: number;
    },
  ) {}

  setPermit(permit: DispatchPermit | undefined): void {
    this.permit = permit;
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    if (!permit) {
      this.parked.clear();
      return;
    }
    this.retryTimer = setInterval(() => this.retryParked(), this.deps.retryMs);
    this.retryTimer.unref();
  }

  /** Reports waiting for a retry (tests, metrics). */
  get parkedCount(): number {
    return this.parked.size;
  }

  readonly onReport = (report: ExecutionReport): void => {
    if (!this.permit) return;
    // Recorded on arrival, once, whatever happens to the exposure update (it may be retried).
    if (report.lastQty > 0) this.deps.events.record('gateway.fill', report);
    if (this.queue.length >= this.deps.max) {
      this.park(report);
      return;
    }
    this.enqueue(report);
  };

  private enqueue(report: ExecutionReport): void {
    this.queue.push(report);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private park(report: ExecutionReport): void {
    const held = this.parked.get(report.clientOrderId);
    if (!held && this.parked.size >= this.deps.max) {
      this.deps.metrics.executions.inc({ result: 'dropped' });
      this.deps.logger.warn(
        { client_order_id: report.clientOrderId, parked: this.parked.size },
        'execution report dropped: parking lot full; the next activation syncs this order with the venue',
      );
      return;
    }
    this.deps.metrics.executions.inc({ result: 'deferred' });
    if (!held || isNewer(report, held)) this.parked.set(report.clientOrderId, report);
  }

  /** Moves parked reports back to the queue (as much as it takes); one drain at a time. */
  private retryParked(): void {
    if (!this.permit || this.draining || this.parked.size === 0) return;
    for (const [coid, report] of this.parked) {
      if (this.queue.length >= this.deps.max) break;
      this.parked.delete(coid);
      this.enqueue(report);
    }
  }

  /** Resolves once every queued report has been applied (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * Applies the queue in waves of up to APPLY_WAVE reports for distinct orders, concurrently (their
   * commands share one pipelined connection); a second report for an order in the wave waits for the
   * next wave, so each order's reports apply in arrival order. One at a time, two round trips each, the
   * applier fell seconds behind a busy venue on a loaded machine.
   */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const permit = this.permit;
      if (!permit) {
        this.queue.length = 0;
        return;
      }
      const wave = new Map<string, ExecutionReport>();
      while (wave.size < APPLY_WAVE && this.queue.length > 0) {
        const next = this.queue[0] as ExecutionReport;
        if (wave.has(next.clientOrderId)) break;
        wave.set(next.clientOrderId, next);
        this.queue.shift();
      }
      await Promise.all([...wave.values()].map((report) => this.applyOrPark(report, permit)));
    }
  }

  private async applyOrPark(report: ExecutionReport, permit: DispatchPermit): Promise<void> {
    try {
      await this.apply(report, permit);
    } catch (err) {
      this.deps.metrics.executions.inc({ result: 'failed' });
      this.deps.logger.warn(
        { err, client_order_id: report.clientOrderId },
        'execution report not applied; parked for a retry',
      );
      this.park(report);
    }
  }

  private async apply(report: ExecutionReport, permit: DispatchPermit): Promise<void> {
    const account = await this.deps.store.journalAccount(report.clientOrderId);
    if (account === null) {
      this.deps.metrics.executions.inc({ result: 'unknown_order' });
      return;
    }
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
