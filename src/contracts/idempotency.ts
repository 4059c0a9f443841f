import { createHash } from 'node:crypto';
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

export function deriveIdempotencyKey(fields: CanonicalFields): string {
  return createHash('sha256').update(canonicalPayload(fields)).digest('hex');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The client order id sent to the broker: 20 base32 characters (100 bits) of sha256("coid/v1:" + key).
 * Deterministic, so a re-dispatch after failover reuses it and a venue that refuses duplicate ids (FIX
 * venues do) is the last line of defence against a second order.
 */
export function deriveClientOrderId(idempotencyKey: string): string {
  const digest = createHash('sha256').update(`coid/v1:${idempotencyKey}`).digest();
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of digest) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 20) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
    if (out.length === 20) break;
  }
  return out;
}
