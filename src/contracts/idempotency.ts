import * as crypto from 'node:crypto';
import type { IntentEnvelope } from './intent.js';

/**
 * The idempotency key is sha256 over the canonical payload: the fields that define *what* is ordered.
 * trace_id, source_ts_ns and ttl_ms are left out on purpose, so a retry of the same intent (new trace,
 * new timestamp, possibly a fresh ttl) carries the same key. intent_id is in, so two identical orders a
 * strategy means to send twice differ. The canonical form is a JSON array in a fixed order: strings and
 * safe integers serialize identically in every JavaScript engine.
 */
export type CanonicalFields = Pick<
  IntentEnvelope,
  | 'schema_version'
  | 'strategy_id'
  | 'account'
  | 'intent_id'
  | 'kind'
  | 'symbol'
  | 'side'
  | 'qty'
  | 'price'
  | 'tif'
  | 'target_client_order_id'
>;

export function canonicalPayload(f: CanonicalFields): string {
  return JSON.stringify([
    f.schema_version,
    f.strategy_id,
    f.account,
    f.intent_id,
    f.kind,
    f.symbol,
    f.side,
    f.qty,
    f.price,
    f.tif,
    f.target_client_order_id ?? '',
  ]);
}

/**
 * SHA-256 in one call. `crypto.hash` (Node ≥ 20.12) skips the Hash object `createHash` builds: both are
 * computed on every intent in the SDK and the gateway, and the one-shot form costs ≈ 40 % less. Node
 * 20.10–20.11 (allowed by `engines`) lack it and take `createHash`; the digest is the same.
 */
const oneShot = typeof crypto.hash === 'function';
const sha256Hex = (data: string): string =>
  oneShot ? crypto.hash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');

export function deriveIdempotencyKey(fields: CanonicalFields): string {
  return sha256Hex(canonicalPayload(fields));
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The client order id sent to the broker: 20 base32 characters (100 bits) of sha256("coid/v1:" + key).
 * Deterministic, so a re-dispatch after failover reuses it and a venue that refuses duplicate ids (FIX
 * venues do) is the last line of defence against a second order.
 */
export function deriveClientOrderId(idempotencyKey: string): string {
  // The first 100 bits are the first 25 hex digits: 5 digits (20 bits) make 4 base32 characters. A hex
  // digest is the cheapest form `crypto.hash` returns here (≈ 3× faster than a Buffer).
  const hex = sha256Hex(`coid/v1:${idempotencyKey}`);
  let out = '';
  for (let i = 0; i < 25; i += 5) {
    const v = Number.parseInt(hex.slice(i, i + 5), 16);
    out += BASE32.charAt((v >>> 15) & 31) + BASE32.charAt((v >>> 10) & 31);
    out += BASE32.charAt((v >>> 5) & 31) + BASE32.charAt(v & 31);
  }
  return out;
}
