import { type Clock, nowNs } from '../clock.js';
import type { Decision } from '../contracts/decision.js';
import type { RejectReason } from '../errors.js';

/** What a decision is about: enough to answer the submitter without the envelope. */
export interface DecisionSubject {
  readonly idempotencyKey: string;
  readonly intentId: string;
  readonly sourceTsNs: string;
}

/** Builds decision v1 records stamped with this gateway's id and the wall clock. */
export class DecisionFactory {
  constructor(
    private readonly gatewayId: string,
    private readonly clock: Clock,
  ) {}

  accepted(s: DecisionSubject, epoch: number, clientOrderId: string): Decision {
    return this.build(s, 'ACCEPTED', null, null, epoch, clientOrderId);
  }

  rejected(
    s: DecisionSubject,
    reason: RejectReason,
    detail: string,
    epoch: number,
    clientOrderId: string | null,
  ): Decision {
    return this.build(s, 'REJECTED', reason, detail, epoch, clientOrderId);
  }

  private build(
    s: DecisionSubject,
    status: Decision['status'],
    reason: RejectReason | null,
    detail: string | null,
    epoch: number,
    clientOrderId: string | null,
  ): Decision {
    return {
      schema_version: 1,
      idempotency_key: s.idempotencyKey,
      intent_id: s.intentId,
      status,
      reason,
      detail,
      epoch,
      client_order_id: clientOrderId,
      gateway_id: this.gatewayId,
      source_ts_ns: s.sourceTsNs,
      decided_ts_ns: nowNs(this.clock),
    };
  }
}
