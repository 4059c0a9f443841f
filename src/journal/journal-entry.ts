import type { Side, Tif } from '../contracts/intent.js';

export type JournalState = 'ADMITTED' | 'DISPATCHED' | 'REJECTED' | 'EXPIRED';

/** One dispatch-journal entry (hash keys.journal(coid)), written by admitIntent-n and its successors. */
export interface JournalEntry {
  readonly state: JournalState;
  readonly kind: 'NEW' | 'CANCEL';
  readonly idempotencyKey: string;
  readonly clientOrderId: string;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly tif: Tif;
  readonly notional: number;
  /** Lots still reserved (released on reject, cancel, expiry; moved to filled by executions). */
  readonly openQty: number;
  readonly filledQty: number;
  readonly epoch: number;
  readonly admittedMs: number;
  /** Wall-clock ms after which the intent may no longer be sent (source_ts + ttl). */
  readonly deadlineMs: number;
  readonly traceId: string;
  readonly intentId: string;
  readonly sourceTsNs: string;
  /** Client order id a CANCEL acts on; "" for NEW. */
  readonly target: string;
  readonly closed: boolean;
  /** Dispatch attempt number: 1 at admission, +1 per re-dispatch by reconciliation (markAttempt-3). */
  readonly attempt: number;
  /** Start of the latest attempt, by the state Redis clock (ms). */
  readonly attemptMs: number;
  /** Fencing epoch the latest attempt was made under. */
  readonly attemptEpoch: number;
}

/** Parses HGETALL output; null for a missing entry. */
export function parseJournalEntry(raw: Record<string, string>): JournalEntry | null {
  if (!raw.state) return null;
  const num = (k: string) => Number(raw[k] ?? '0');
  return {
    state: raw.state as JournalState,
    kind: raw.kind as JournalEntry['kind'],
    idempotencyKey: raw.key ?? '',
    clientOrderId: raw.coid ?? '',
    account: raw.account ?? '',
    strategy: raw.strategy ?? '',
    symbol: raw.symbol ?? '',
    side: raw.side as Side,
    qty: num('qty'),
    price: num('price'),
    tif: raw.tif as Tif,
    notional: num('notional'),
    openQty: num('open_qty'),
    filledQty: num('filled_qty'),
    epoch: num('epoch'),
    admittedMs: num('admitted_ms'),
    deadlineMs: num('deadline_ms'),
    traceId: raw.trace_id ?? '',
    intentId: raw.intent_id ?? '',
    sourceTsNs: raw.source_ts_ns ?? '0',
    target: raw.target ?? '',
    closed: raw.closed === '1',
    // Entries written before attempts were recorded: attempt 1, made at admission.
    attempt: raw.attempt ? Number(raw.attempt) : 1,
    attemptMs: raw.attempt_ms ? Number(raw.attempt_ms) : num('admitted_ms'),
    attemptEpoch: raw.attempt_epoch ? Number(raw.attempt_epoch) : num('epoch'),
  };
}
