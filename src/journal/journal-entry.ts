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

/**
 * The values of an entry written once at ADMITTED and never changed. They are stored packed in ONE hash
 * field, {@link JOURNAL_PACKED_FIELD}: a JSON array in {@link IMMUTABLE_FIELDS} order (the Lua side,
 * src/commands/includes/journal.lua, reads it by the same positions), because writing 27 hash fields was
 * most of the admit script's journal cost (docs/gateway.md, Where the time goes). The fields that change
 * (state, open_qty, filled_qty, attempt*, venue_state, closed) keep a field each.
 */
export interface JournalImmutable {
  readonly kind: string;
  readonly idempotencyKey: string;
  readonly clientOrderId: string;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: string;
  readonly qty: number;
  readonly price: number;
  readonly tif: string;
  readonly notional: number;
  readonly epoch: number;
  readonly admittedMs: number;
  readonly deadlineMs: number;
  readonly traceId: string;
  readonly intentId: string;
  readonly sourceTsNs: string;
  readonly target: string;
}

export const JOURNAL_PACKED_FIELD = 'i';

/** Field names of the old layout (one field per value), in packed-array order; the kind comes first. */
const IMMUTABLE_FIELDS = [
  'kind',
  'key',
  'coid',
  'account',
  'strategy',
  'symbol',
  'side',
  'qty',
  'price',
  'tif',
  'notional',
  'epoch',
  'admitted_ms',
  'deadline_ms',
  'trace_id',
  'intent_id',
  'source_ts_ns',
  'target',
] as const;

/** The packed field's value. The kind must stay first: the outcome script matches it without decoding. */
export function packJournalImmutable(f: JournalImmutable): string {
  return JSON.stringify([
    f.kind,
    f.idempotencyKey,
    f.clientOrderId,
    f.account,
    f.strategy,
    f.symbol,
    f.side,
    f.qty,
    f.price,
    f.tif,
    f.notional,
    f.epoch,
    f.admittedMs,
    f.deadlineMs,
    f.traceId,
    f.intentId,
    f.sourceTsNs,
    f.target,
  ]);
}

/**
 * The raw hash of an entry in the old layout's shape (one field per value), whichever layout it was
 * written in: entries written before the packed field are still met in the dedup window after an upgrade.
 */
export function journalFields(raw: Record<string, string>): Record<string, string> {
  const packed = raw[JOURNAL_PACKED_FIELD];
  if (packed === undefined) return raw;
  const values: unknown = JSON.parse(packed);
  if (!Array.isArray(values) || values.length !== IMMUTABLE_FIELDS.length) {
    throw new Error(`journal entry: packed field is not a ${IMMUTABLE_FIELDS.length}-value array`);
  }
  const out: Record<string, string> = {};
  IMMUTABLE_FIELDS.forEach((name, i) => {
    out[name] = String(values[i]);
  });
  // The fields that change are never packed; they win over anything of the same name.
  for (const [k, v] of Object.entries(raw)) if (k !== JOURNAL_PACKED_FIELD) out[k] = v;
  return out;
}

/** Parses HGETALL output of either layout; null for a missing entry. */
export function parseJournalEntry(hash: Record<string, string>): JournalEntry | null {
  if (!hash.state) return null;
  const raw = journalFields(hash);
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

/** The account of an entry from HMGET [packed field, account] (either layout); null when missing. */
export function journalAccount(packed: string | null, account: string | null): string | null {
  if (packed === null) return account;
  return journalFields({ [JOURNAL_PACKED_FIELD]: packed }).account ?? null;
}
