import type { RejectReason } from '../errors.js';
import { isCode } from '../errors.js';

/** Decision returned to the submitter, schema v1. Stored per idempotency key for the dedup window. */
export const DECISION_SCHEMA_VERSION = 1;

export type DecisionStatus = 'ACCEPTED' | 'REJECTED';

export interface Decision {
  readonly schema_version: 1;
  readonly idempotency_key: string;
  readonly intent_id: string;
  readonly status: DecisionStatus;
  /** Stable reject reason from the catalogue; null when ACCEPTED. */
  readonly reason: RejectReason | null;
  /** Human-readable detail for a reject (field name, limit hit); never parsed by programs. */
  readonly detail: string | null;
  /** Fencing epoch of the gateway that decided; 0 when decided outside the gateway (envelope reject). */
  readonly epoch: number;
  /** Broker client order id; null for rejects that never reached the admit step. */
  readonly client_order_id: string | null;
  readonly gateway_id: string;
  readonly source_ts_ns: string;
  readonly decided_ts_ns: string;
}

export function serializeDecision(decision: Decision): string {
  return JSON.stringify(decision);
}

/** Parses a stored decision. Stored decisions are written only by this code, so a bad one is a bug. */
export function parseDecision(text: string): Decision {
  const value = JSON.parse(text) as Decision;
  if (
    value.schema_version !== DECISION_SCHEMA_VERSION ||
    (value.status !== 'ACCEPTED' && value.status !== 'REJECTED') ||
    (value.reason !== null && !isCode(value.reason))
  ) {
    throw new Error(`stored decision is not v1: ${text.slice(0, 200)}`);
  }
  return value;
}
