import type { RejectReason } from '../errors.js';
import { MAX_SCALED } from './scaled.js';
import { deriveIdempotencyKey } from './idempotency.js';

/**
 * Order intent envelope, schema v1 (CE2-01). The wire form is a JSON object with exactly these fields;
 * `docs/contracts.md` is the normative description and the version policy.
 */
export const INTENT_SCHEMA_VERSION = 1;
export const MAX_ENVELOPE_BYTES = 4_096;

export const INTENT_KINDS = ['NEW', 'CANCEL', 'REPLACE'] as const;
export const SIDES = ['BUY', 'SELL'] as const;
export const TIFS = ['DAY', 'IOC', 'FOK'] as const;
export type IntentKind = (typeof INTENT_KINDS)[number];
export type Side = (typeof SIDES)[number];
export type Tif = (typeof TIFS)[number];

export interface IntentEnvelope {
  readonly schema_version: 1;
  readonly trace_id: string;
  readonly strategy_id: string;
  readonly account: string;
  readonly intent_id: string;
  /** Nanoseconds since the Unix epoch as a decimal string (does not fit a double). */
  readonly source_ts_ns: string;
  readonly idempotency_key: string;
  readonly ttl_ms: number;
  readonly kind: IntentKind;
  readonly symbol: string;
  readonly side: Side;
  /** Integer lots; 0 for CANCEL. */
  readonly qty: number;
  /** Limit price in 1/PRICE_SCALE units; 0 for CANCEL. */
  readonly price: number;
  readonly tif: Tif;
  /** Client order id of the order a CANCEL/REPLACE acts on; absent for NEW. */
  readonly target_client_order_id?: string;
}

/** The fields a strategy supplies; the SDK fills version, key, trace id and timestamp. */
export type IntentInput = Omit<
  IntentEnvelope,
  'schema_version' | 'idempotency_key' | 'trace_id' | 'source_ts_ns'
> & {
  readonly trace_id?: string;
  readonly source_ts_ns?: string;
};

export class EnvelopeError extends Error {
  constructor(
    readonly reason: RejectReason,
    readonly field: string,
    detail: string,
  ) {
    super(`${reason} (${field}): ${detail}`);
    this.name = 'EnvelopeError';
  }
}

const ID_ALPHABET = /^[A-Za-z0-9_.:-]+$/;
const SYMBOL_ALPHABET = /^[A-Za-z0-9_.-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const COID = /^[A-Z2-7]{20}$/;
const TS_NS = /^[0-9]{1,20}$/;
const MAX_U64 = 18_446_744_073_709_551_615n;

interface StringRule {
  readonly max: number;
  readonly alphabet: RegExp;
}
const STRING_FIELDS: Readonly<Record<string, StringRule>> = {
  trace_id: { max: 64, alphabet: ID_ALPHABET },
  strategy_id: { max: 64, alphabet: ID_ALPHABET },
  account: { max: 32, alphabet: ID_ALPHABET },
  intent_id: { max: 64, alphabet: ID_ALPHABET },
  symbol: { max: 32, alphabet: SYMBOL_ALPHABET },
};
const STRING_RULES = Object.entries(STRING_FIELDS);
export const REQUIRED_FIELDS = [
  'schema_version',
  'trace_id',
  'strategy_id',
  'account',
  'intent_id',
  'source_ts_ns',
  'idempotency_key',
  'ttl_ms',
  'kind',
  'symbol',
  'side',
  'qty',
  'price',
  'tif',
] as const;
/** Every field v1 defines, in wire order. */
export const ENVELOPE_FIELDS = [...REQUIRED_FIELDS, 'target_client_order_id'] as const;
const ALLOWED = new Set<string>(ENVELOPE_FIELDS);
export const MAX_TTL_MS = 86_400_000;

/** Parses wire text into a validated envelope, or throws {@link EnvelopeError} with a stable reason. */
export function parseEnvelope(text: string): IntentEnvelope {
  // A UTF-8 byte is at most 3 per UTF-16 unit, so short texts skip counting their bytes.
  if (text.length * 3 > MAX_ENVELOPE_BYTES && Buffer.byteLength(text, 'utf8') > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeError('ENVELOPE_TOO_LARGE', '(root)', `more than ${MAX_ENVELOPE_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EnvelopeError('ENVELOPE_NOT_JSON', '(root)', 'not valid JSON');
  }
  return validateEnvelope(value);
}

/** Validates an already-decoded value. Checks run in a fixed order so the reason is deterministic. */
export function validateEnvelope(value: unknown): IntentEnvelope {
  return checkEnvelope(value, true);
}

/**
 * Envelopes built by {@link completeEnvelope}: validated, then frozen, so they cannot have changed since.
 * The SDK sends them without validating (and hashing) them a second time.
 */
const COMPLETED = new WeakSet<IntentEnvelope>();

/** True for an envelope {@link completeEnvelope} built (valid, frozen, fields in wire order). */
export function isCompletedEnvelope(envelope: object): boolean {
  return COMPLETED.has(envelope as IntentEnvelope);
}

/**
 * Completes an intent input into a validated v1 envelope with the given trace id and timestamp: the
 * idempotency key is derived once (validation does not derive it again), and the result is frozen with
 * its fields in wire order, so `JSON.stringify` of it is {@link serializeEnvelope}'s text. Throws
 * {@link EnvelopeError} exactly as {@link validateEnvelope} would for the same fields.
 */
export function completeEnvelope(input: IntentInput, traceId: string, sourceTsNs: string): IntentEnvelope {
  const fields = { ...input, schema_version: INTENT_SCHEMA_VERSION } as const;
  const candidate = {
    ...fields,
    trace_id: traceId,
    source_ts_ns: sourceTsNs,
    idempotency_key: deriveIdempotencyKey(fields),
  };
  const valid = checkEnvelope(candidate, false);
  const ordered: Record<string, unknown> = {};
  for (const key of REQUIRED_FIELDS) ordered[key] = valid[key];
  if (valid.target_client_order_id !== undefined)
    ordered.target_client_order_id = valid.target_client_order_id;
  const envelope = Object.freeze(ordered) as unknown as IntentEnvelope;
  COMPLETED.add(envelope);
  return envelope;
}

/** `deriveKey` false: the caller has just derived the key from these very fields. */
function checkEnvelope(value: unknown, deriveKey: boolean): IntentEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EnvelopeError('ENVELOPE_NOT_JSON', '(root)', 'not a JSON object');
  }
  const obj = value as Record<string, unknown>;
  if (obj.schema_version !== INTENT_SCHEMA_VERSION) {
    throw new EnvelopeError(
      'ENVELOPE_VERSION_UNSUPPORTED',
      'schema_version',
      `got ${String(obj.schema_version)}`,
    );
  }
  for (const key of Object.keys(obj)) {
    if (!ALLOWED.has(key)) throw new EnvelopeError('ENVELOPE_UNKNOWN_FIELD', key, 'not defined in v1');
  }
  for (const key of REQUIRED_FIELDS) {
    if (obj[key] === undefined) throw new EnvelopeError('ENVELOPE_MISSING_FIELD', key, 'required');
  }
  for (const [field, rule] of STRING_RULES) checkString(obj, field, rule);
  checkTimestamp(obj.source_ts_ns);
  const kind = checkEnum(obj, 'kind', INTENT_KINDS);
  checkEnum(obj, 'side', SIDES);
  checkEnum(obj, 'tif', TIFS);
  checkInteger(obj, 'ttl_ms', 1, MAX_TTL_MS);
  const minQty = kind === 'CANCEL' ? 0 : 1;
  const maxQty = kind === 'CANCEL' ? 0 : MAX_SCALED;
  checkInteger(obj, 'qty', minQty, maxQty);
  checkInteger(obj, 'price', minQty, maxQty);
  checkTarget(obj, kind);
  if (typeof obj.idempotency_key !== 'string' || !HEX64.test(obj.idempotency_key)) {
    throw new EnvelopeError('ENVELOPE_BAD_STRING', 'idempotency_key', 'must be 64 lowercase hex characters');
  }
  const envelope = obj as unknown as IntentEnvelope;
  if (deriveKey && deriveIdempotencyKey(envelope) !== envelope.idempotency_key) {
    throw new EnvelopeError(
      'ENVELOPE_KEY_MISMATCH',
      'idempotency_key',
      'does not match the canonical payload',
    );
  }
  return envelope;
}

function checkString(obj: Record<string, unknown>, field: string, rule: StringRule): void {
  const value = obj[field];
  if (typeof value !== 'string') throw new EnvelopeError('ENVELOPE_BAD_TYPE', field, 'must be a string');
  if (value.length === 0 || value.length > rule.max || !rule.alphabet.test(value)) {
    throw new EnvelopeError(
      'ENVELOPE_BAD_STRING',
      field,
      `1..${rule.max} characters of ${rule.alphabet.source}`,
    );
  }
}

function checkTimestamp(value: unknown): void {
  if (typeof value !== 'string') {
    throw new EnvelopeError('ENVELOPE_BAD_TYPE', 'source_ts_ns', 'must be a decimal string');
  }
  if (!TS_NS.test(value) || BigInt(value) > MAX_U64) {
    throw new EnvelopeError('ENVELOPE_OUT_OF_RANGE', 'source_ts_ns', 'must be an unsigned 64-bit decimal');
  }
}

function checkEnum<T extends string>(obj: Record<string, unknown>, field: string, allowed: readonly T[]): T {
  const value = obj[field];
  if (typeof value !== 'string') throw new EnvelopeError('ENVELOPE_BAD_TYPE', field, 'must be a string');
  if (!(allowed as readonly string[]).includes(value)) {
    throw new EnvelopeError('ENVELOPE_BAD_ENUM', field, `one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function checkInteger(obj: Record<string, unknown>, field: string, min: number, max: number): void {
  const value = obj[field];
  if (typeof value !== 'number') throw new EnvelopeError('ENVELOPE_BAD_TYPE', field, 'must be a number');
  if (!Number.isSafeInteger(value))
    throw new EnvelopeError('ENVELOPE_NOT_INTEGER', field, 'must be a safe integer');
  if (value < min || value > max)
    throw new EnvelopeError('ENVELOPE_OUT_OF_RANGE', field, `must be in ${min}..${max}`);
}

function checkTarget(obj: Record<string, unknown>, kind: IntentKind): void {
  const target = obj.target_client_order_id;
  if (kind === 'NEW') {
    if (target !== undefined) {
      throw new EnvelopeError('ENVELOPE_UNKNOWN_FIELD', 'target_client_order_id', 'not allowed on NEW');
    }
    return;
  }
  if (target === undefined) {
    throw new EnvelopeError('ENVELOPE_MISSING_FIELD', 'target_client_order_id', `required for ${kind}`);
  }
  if (typeof target !== 'string') {
    throw new EnvelopeError('ENVELOPE_BAD_TYPE', 'target_client_order_id', 'must be a string');
  }
  if (!COID.test(target)) {
    throw new EnvelopeError('ENVELOPE_BAD_STRING', 'target_client_order_id', 'must be a v1 client order id');
  }
}

/** Serializes an envelope with its fields in a fixed order (stable bytes for logs and the WAL). */
export function serializeEnvelope(envelope: IntentEnvelope): string {
  // A completed envelope already holds exactly these fields in this order.
  if (COMPLETED.has(envelope)) return JSON.stringify(envelope);
  const ordered: Record<string, unknown> = {};
  for (const key of REQUIRED_FIELDS) ordered[key] = envelope[key];
  if (envelope.target_client_order_id !== undefined)
    ordered.target_client_order_id = envelope.target_client_order_id;
  return JSON.stringify(ordered);
}
