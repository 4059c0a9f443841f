/**
 * The one catalogue of stable codes. Two kinds live here:
 *
 * - `error`: a typed failure of a call (`GW_ERR_…`), thrown as {@link GatewayError}.
 * - `reject`: a reason carried in a REJECTED decision or a counted drop (envelope, risk, exposure, policy,
 *   broker, quote schema). Metrics label rejects by these codes.
 *
 * Every code is documented in `runbooks/error-codes.md`; `test/errors.test.ts` keeps the two in step.
 * Codes are never renamed or reused once shipped: retire a code by moving it to {@link RETIRED_CODES}.
 */

export type CodeKind = 'error' | 'reject';

export interface CodeSpec {
  readonly kind: CodeKind;
  /** HTTP status the admin/ops API answers with when this code surfaces there. */
  readonly http: number;
  /** True when the same call may succeed if repeated unchanged (after backoff). */
  readonly retryable: boolean;
  readonly message: string;
}

const error = (http: number, retryable: boolean, message: string) =>
  Object.freeze({ kind: 'error' as const, http, retryable, message }) satisfies CodeSpec;
const reject = (message: string, http = 422) =>
  Object.freeze({ kind: 'reject' as const, http, retryable: false, message }) satisfies CodeSpec;

export const CODES = Object.freeze({
  // ── process / configuration ────────────────────────────────────────────────────────────────
  GW_ERR_CONFIG_INVALID: error(500, false, 'configuration is invalid'),
  GW_ERR_INTERNAL: error(500, false, 'unexpected internal error'),
  GW_ERR_UNAUTHORIZED: error(401, false, 'admin token missing or wrong'),
  // ── intent channel (client SDK and consumer) ───────────────────────────────────────────────
  GW_ERR_ENVELOPE_INVALID: error(400, false, 'intent envelope failed validation'),
  GW_ERR_INFLIGHT_FULL: error(429, true, 'client in-flight window is full'),
  GW_ERR_CHANNEL_FULL: error(503, true, 'intent stream is at its cap'),
  GW_ERR_SUBMIT_TIMEOUT: error(504, true, 'no decision within the submit budget; outcome unknown'),
  GW_ERR_OUTCOME_UNKNOWN: error(
    504,
    true,
    'the channel dead-lettered the intent undecided; its order may exist',
  ),
  GW_ERR_REDIS_UNAVAILABLE: error(503, true, 'Redis did not answer'),
  GW_ERR_CLIENT_CLOSED: error(503, false, 'client or consumer is closed'),
  GW_ERR_SCRIPT_FAILED: error(500, false, 'a Lua script returned an unexpected answer'),
  GW_ERR_STATE_LAYOUT_TOO_NEW: error(
    500,
    false,
    'the state Redis holds data in a layout newer than this release reads',
  ),
  // ── HA / fencing ───────────────────────────────────────────────────────────────────────────
  GW_ERR_FENCED: error(409, false, 'fencing epoch is stale; this process must stop dispatching'),
  GW_ERR_NOT_LEADER: error(503, true, 'this gateway is not ACTIVE'),
  GW_ERR_LEASE_LOST: error(503, true, 'leader lease lost or about to expire'),
  // ── broker ─────────────────────────────────────────────────────────────────────────────────
  GW_ERR_BROKER_UNAVAILABLE: error(503, true, 'broker/venue unreachable; order not sent'),
  GW_ERR_BROKER_TIMEOUT: error(504, false, 'broker did not answer; outcome unknown, reconcile before retry'),
  // ── gateway pipeline ───────────────────────────────────────────────────────────────────────
  GW_ERR_INTENT_IN_FLIGHT: error(409, true, 'another delivery of this idempotency key is being dispatched'),
  GW_ERR_SEND_WINDOW_PASSED: error(503, true, 'dispatch attempt older than its send window; order not sent'),
  // ── WAL ────────────────────────────────────────────────────────────────────────────────────
  GW_ERR_WAL_HALTED: error(507, true, 'WAL refuses appends: disk pressure HALT or topic policy halt'),
  GW_ERR_WAL_CLOSED: error(503, false, 'WAL writer is closed'),
  GW_ERR_WAL_QUEUE_FULL: error(503, true, 'WAL append buffer is full'),
  GW_ERR_WAL_CORRUPT: error(500, false, 'WAL segment is corrupt and was quarantined'),
  GW_ERR_WAL_RECORD_INVALID: error(
    400,
    false,
    'WAL record refused: unknown topic, payload not JSON, or too large',
  ),
  // ── loaders ────────────────────────────────────────────────────────────────────────────────
  GW_ERR_REDIS_EVICTION_POLICY: error(
    500,
    false,
    'Redis for BullMQ must run with maxmemory-policy noeviction',
  ),
  GW_ERR_SEGMENT_CHECKSUM: error(500, false, 'segment checksum does not match its manifest'),
  GW_ERR_SEGMENT_CLAIM_LOST: error(409, true, 'segment claim expired or taken by another loader'),
  GW_ERR_CLICKHOUSE_UNAVAILABLE: error(503, true, 'ClickHouse did not answer'),
  GW_ERR_CLICKHOUSE_MIGRATION: error(
    500,
    false,
    'a ClickHouse migration failed or an applied one was changed',
  ),
  // ── quotes ─────────────────────────────────────────────────────────────────────────────────
  GW_ERR_QUOTE_QUEUE_HALTED: error(503, false, 'quote queue full under the halt overflow policy'),

  // ── reject reasons: envelope ───────────────────────────────────────────────────────────────
  ENVELOPE_NOT_JSON: reject('envelope is not a JSON object', 400),
  ENVELOPE_TOO_LARGE: reject('envelope exceeds the byte limit', 400),
  ENVELOPE_VERSION_UNSUPPORTED: reject('schema_version is not supported', 400),
  ENVELOPE_UNKNOWN_FIELD: reject('envelope has a field v1 does not define', 400),
  ENVELOPE_MISSING_FIELD: reject('a required field is missing', 400),
  ENVELOPE_BAD_TYPE: reject('a field has the wrong type', 400),
  ENVELOPE_NOT_INTEGER: reject('a scaled-integer field is not a safe integer', 400),
  ENVELOPE_OUT_OF_RANGE: reject('a field is outside its allowed range', 400),
  ENVELOPE_BAD_ENUM: reject('a field is not one of its allowed values', 400),
  ENVELOPE_BAD_STRING: reject(
    'a string field is empty, too long or has characters outside its alphabet',
    400,
  ),
  ENVELOPE_KEY_MISMATCH: reject('idempotency_key does not match the canonical payload', 400),
  // ── reject reasons: gateway pipeline ───────────────────────────────────────────────────────
  TTL_EXPIRED: reject('intent ttl elapsed before a decision'),
  POLICY_HALT: reject('policy is HALT: only cancels are accepted'),
  POLICY_REDUCE_ONLY: reject('policy is DEGRADED: only exposure-reducing intents are accepted'),
  RISK_MAX_QTY: reject('order quantity above the per-symbol maximum'),
  RISK_MAX_NOTIONAL: reject('order notional above the per-symbol maximum'),
  RISK_PRICE_COLLAR: reject('price outside the collar around the reference price'),
  RISK_REFERENCE_STALE: reject('reference price older than the staleness bound'),
  RISK_NO_REFERENCE: reject('no reference price for the symbol'),
  RISK_THROTTLE_STRATEGY: reject('strategy submit rate above its throttle'),
  RISK_THROTTLE_GLOBAL: reject('global submit rate above the throttle'),
  RISK_SYMBOL_NOT_ALLOWED: reject('symbol is not on the allow-list'),
  EXPOSURE_SYMBOL_LIMIT: reject('symbol exposure limit would be exceeded'),
  EXPOSURE_STRATEGY_LIMIT: reject('strategy exposure limit would be exceeded'),
  EXPOSURE_ACCOUNT_LIMIT: reject('account exposure limit would be exceeded'),
  EXPOSURE_LIMIT: reject('tracked-symbol capacity reached after zero-balance eviction'),
  UNKNOWN_ORDER: reject('cancel/replace target is not a known order'),
  BROKER_REJECT: reject('broker rejected the order'),
  DEAD_LETTERED: reject('entry moved to the dead-letter stream after too many deliveries'),
  JOURNAL_EXPIRED: reject('admitted intent expired before dispatch could be confirmed; exposure released'),
  REPLACE_NOT_SUPPORTED: reject('REPLACE is not supported by this gateway; send CANCEL then NEW'),
  INTERNAL_ERROR: reject('the gateway failed on this intent before reserving or sending anything', 500),
  // ── reject reasons: quote schema v1 ────────────────────────────────────────────────────────
  QUOTE_VERSION: reject('quote payload is not schema v1'),
  QUOTE_NOT_JSON: reject('quote payload is not a JSON object'),
  QUOTE_OVERSIZE: reject('quote payload exceeds the byte limit'),
  QUOTE_MISSING_FIELD: reject('quote payload lacks a v1 field'),
  QUOTE_UNKNOWN_FIELD: reject('quote payload has a field v1 does not define'),
  QUOTE_BAD_TYPE: reject('quote field has the wrong type'),
  QUOTE_BAD_NUMBER: reject('quote decimal is malformed or has more places than the scale'),
});

export type Code = keyof typeof CODES;
export type RejectReason = { [K in Code]: (typeof CODES)[K]['kind'] extends 'reject' ? K : never }[Code];
export type ErrorCode = Exclude<Code, RejectReason>;

/** Codes once shipped and since withdrawn. They stay reserved forever. */
export const RETIRED_CODES: readonly string[] = Object.freeze([]);

export function isCode(value: string): value is Code {
  return Object.hasOwn(CODES, value);
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly http: number;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    detail?: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    const spec = CODES[code];
    super(detail ? `${code}: ${spec.message}: ${detail}` : `${code}: ${spec.message}`, options);
    this.name = 'GatewayError';
    this.code = code;
    this.http = spec.http;
    this.retryable = spec.retryable;
    this.details = Object.freeze({ ...details });
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retryable: this.retryable, ...this.details };
  }
}

export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}
