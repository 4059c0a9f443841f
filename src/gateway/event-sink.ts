import { isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventRecorder, WalTopic } from '../wal/recorder.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * The gateway's side of the optional EventRecorder. Recording never fails an intent: the Redis journal is
 * the source of truth for decisions, the WAL is the audit trail. One refusal changes behaviour:
 * GW_ERR_WAL_HALTED (disk pressure HALT or a `halt` topic policy) puts this process in a local HALT floor
 * (only cancels are admitted) until a later record is accepted again — the gateway must not trade while it
 * cannot write down what it does. Other refusals (queue full, closed) are counted and logged.
 */
export class EventSink {
  private halted = false;

  constructor(
    private readonly recorder: EventRecorder | undefined,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  /** False without a recorder: callers skip building payloads nobody records. */
  get enabled(): boolean {
    return this.recorder !== undefined;
  }

  /** True while the recorder refuses appends with GW_ERR_WAL_HALTED. */
  get walHalted(): boolean {
    return this.halted;
  }

  record(topic: WalTopic, payload: unknown): void {
    if (!this.recorder) return;
    try {
      this.recorder.record(topic, payload);
      if (this.halted) {
        this.halted = false;
        this.logger.warn({ topic }, 'WAL accepts records again; local HALT floor lifted');
      }
    } catch (err) {
      const code = isGatewayError(err) ? err.code : 'GW_ERR_INTERNAL';
      this.metrics.recorderErrors.inc({ code });
      if (code === 'GW_ERR_WAL_HALTED' && !this.halted) {
        this.halted = true;
        this.logger.error({ topic }, 'WAL halted: local HALT floor, only cancels are admitted');
      }
    }
  }
}
