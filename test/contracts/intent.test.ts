import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntentClient } from '../../src/channel/intent-client.js';
import {
  canonicalPayload,
  deriveClientOrderId,
  deriveIdempotencyKey,
} from '../../src/contracts/idempotency.js';
import {
  ENVELOPE_FIELDS,
  EnvelopeError,
  type IntentEnvelope,
  MAX_ENVELOPE_BYTES,
  parseEnvelope,
  serializeEnvelope,
  validateEnvelope,
} from '../../src/contracts/intent.js';
import { CODES } from '../../src/errors.js';
import { newIntent } from '../fixtures/intents.js';

const valid = (): IntentEnvelope =>
  IntentClient.envelope(newIntent(1, { trace_id: 't-1', source_ts_ns: '1764000000000000001' }));

function rejectReason(value: unknown): string {
  try {
    validateEnvelope(value);
  } catch (err) {
    if (err instanceof EnvelopeError) return err.reason;
    throw err;
  }
  return 'accepted';
}

const mutate = (patch: Record<string, unknown>) => ({ ...valid(), ...patch });

describe('intent envelope v1', () => {
  it('round-trips through its wire form unchanged', () => {
    const envelope = valid();
    expect(parseEnvelope(serializeEnvelope(envelope))).toEqual(envelope);
  });

  it('serializes with a fixed field order, whatever order the object was built in', () => {
    const envelope = valid();
    const shuffled = Object.fromEntries(Object.entries(envelope).reverse()) as unknown as IntentEnvelope;
    expect(serializeEnvelope(shuffled)).toBe(serializeEnvelope(envelope));
  });

  it.each([
    ['a float quantity', { qty: 1.5 }, 'ENVELOPE_NOT_INTEGER'],
    ['NaN price', { price: Number.NaN }, 'ENVELOPE_NOT_INTEGER'],
    ['an unsafe integer', { price: 2 ** 53 }, 'ENVELOPE_NOT_INTEGER'],
    ['a negative quantity', { qty: -1 }, 'ENVELOPE_OUT_OF_RANGE'],
    ['a zero quantity on NEW', { qty: 0 }, 'ENVELOPE_OUT_OF_RANGE'],
    ['a numeric string quantity', { qty: '100' }, 'ENVELOPE_BAD_TYPE'],
    ['an unknown kind', { kind: 'AMEND' }, 'ENVELOPE_BAD_ENUM'],
    ['an unknown side', { side: 'SHORT' }, 'ENVELOPE_BAD_ENUM'],
    ['an oversize symbol', { symbol: 'X'.repeat(33) }, 'ENVELOPE_BAD_STRING'],
    ['an empty strategy', { strategy_id: '' }, 'ENVELOPE_BAD_STRING'],
    ['a strategy with spaces', { strategy_id: 'a b' }, 'ENVELOPE_BAD_STRING'],
    ['an unknown field', { leverage: 10 }, 'ENVELOPE_UNKNOWN_FIELD'],
    ['schema version 2', { schema_version: 2 }, 'ENVELOPE_VERSION_UNSUPPORTED'],
    ['a ttl above 24 h', { ttl_ms: 86_400_001 }, 'ENVELOPE_OUT_OF_RANGE'],
    ['a timestamp above 2^64', { source_ts_ns: '18446744073709551616' }, 'ENVELOPE_OUT_OF_RANGE'],
    ['a numeric timestamp', { source_ts_ns: 1764000000000000000 }, 'ENVELOPE_BAD_TYPE'],
    ['a target on NEW', { target_client_order_id: 'A'.repeat(20) }, 'ENVELOPE_UNKNOWN_FIELD'],
    ['a key that is not the payload hash', { idempotency_key: 'a'.repeat(64) }, 'ENVELOPE_KEY_MISMATCH'],
    ['a changed quantity under the old key', { qty: 1_001 }, 'ENVELOPE_KEY_MISMATCH'],
  ])('rejects %s', (_label, patch, reason) => {
    expect(rejectReason(mutate(patch))).toBe(reason);
  });

  it('rejects a missing field by name', () => {
    const { symbol: _dropped, ...rest } = valid();
    expect(() => validateEnvelope(rest)).toThrow(/ENVELOPE_MISSING_FIELD \(symbol\)/);
  });

  it('rejects envelopes above the byte limit before parsing them', () => {
    const text = JSON.stringify({ ...valid(), pad: 'x'.repeat(MAX_ENVELOPE_BYTES) });
    expect(() => parseEnvelope(text)).toThrow(/ENVELOPE_TOO_LARGE/);
  });

  it('counts the byte limit in UTF-8 bytes, not characters', () => {
    // 1 400 three-byte characters: under the limit in characters, over it in bytes.
    const text = JSON.stringify({ ...valid(), pad: '€'.repeat(1_400) });
    expect(text.length).toBeLessThan(MAX_ENVELOPE_BYTES);
    expect(() => parseEnvelope(text)).toThrow(/ENVELOPE_TOO_LARGE/);
  });

  it('completes an input once into a frozen envelope in wire order that validates as sent', () => {
    const envelope = valid();
    expect(Object.isFrozen(envelope)).toBe(true);
    expect(Object.keys(envelope)).toEqual(ENVELOPE_FIELDS.filter((f) => f in envelope));
    const plain = { ...envelope };
    expect(validateEnvelope(plain)).toEqual(envelope);
    expect(serializeEnvelope(envelope)).toBe(serializeEnvelope(plain));
    expect(JSON.parse(serializeEnvelope(envelope))).toEqual(plain);
    expect(() => {
      (envelope as { qty: number }).qty = 2;
    }).toThrow(TypeError);
  });

  it.each([
    ['an unknown field', { leverage: 10 }, 'ENVELOPE_UNKNOWN_FIELD'],
    ['a float quantity', { qty: 1.5 }, 'ENVELOPE_NOT_INTEGER'],
    ['a bad symbol', { symbol: 'a b' }, 'ENVELOPE_BAD_STRING'],
  ])('refuses to complete an input with %s, with the validator reason', (_label, patch, reason) => {
    let caught: unknown;
    try {
      IntentClient.envelope({ ...newIntent(4), ...patch } as Parameters<typeof IntentClient.envelope>[0]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EnvelopeError);
    expect((caught as EnvelopeError).reason).toBe(reason);
  });

  it('requires a target client order id on CANCEL and zero quantity and price', () => {
    const target = deriveClientOrderId(valid().idempotency_key);
    const cancel = IntentClient.envelope(
      newIntent(2, { kind: 'CANCEL', qty: 0, price: 0, target_client_order_id: target }),
    );
    expect(cancel.kind).toBe('CANCEL');
    expect(rejectReason({ ...cancel, target_client_order_id: undefined })).toBe('ENVELOPE_MISSING_FIELD');
    expect(() =>
      IntentClient.envelope(
        newIntent(3, { kind: 'CANCEL', qty: 5, price: 0, target_client_order_id: target }),
      ),
    ).toThrow(/ENVELOPE_OUT_OF_RANGE \(qty\)/);
  });

  it('uses only reason codes from the catalogue', () => {
    for (const reason of ['ENVELOPE_NOT_INTEGER', 'ENVELOPE_KEY_MISMATCH', 'ENVELOPE_TOO_LARGE']) {
      expect(CODES).toHaveProperty(reason);
    }
  });
});

const idChars = fc.constantFrom(...'abcXYZ019_.:-'.split(''));
const ident = (max: number) => fc.string({ unit: idChars, minLength: 1, maxLength: max });
const arbInput = fc.record({
  strategy_id: ident(64),
  account: ident(32),
  intent_id: ident(64),
  ttl_ms: fc.integer({ min: 1, max: 86_400_000 }),
  kind: fc.constant('NEW' as const),
  symbol: fc.string({ unit: fc.constantFrom(...'AB29._-'.split('')), minLength: 1, maxLength: 32 }),
  side: fc.constantFrom('BUY' as const, 'SELL' as const),
  qty: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  price: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  tif: fc.constantFrom('DAY' as const, 'IOC' as const, 'FOK' as const),
});

describe('idempotency key derivation (property)', () => {
  it('gives the same key for the same payload whatever the trace id, timestamp and ttl', () => {
    fc.assert(
      fc.property(arbInput, fc.uuid(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (input, trace, ts) => {
        const a = IntentClient.envelope({ ...input, trace_id: trace, source_ts_ns: ts.toString() });
        const b = IntentClient.envelope({ ...input, ttl_ms: 1 });
        expect(a.idempotency_key).toBe(b.idempotency_key);
        expect(deriveClientOrderId(a.idempotency_key)).toBe(deriveClientOrderId(b.idempotency_key));
      }),
    );
  });

  it('gives a different key when any defining field differs', () => {
    fc.assert(
      fc.property(arbInput, arbInput, (x, y) => {
        const fields = (i: typeof x) => ({ ...i, schema_version: 1 as const });
        const same =
          JSON.stringify(
            Object.entries(fields(x))
              .filter(([k]) => k !== 'ttl_ms')
              .sort(),
          ) ===
          JSON.stringify(
            Object.entries(fields(y))
              .filter(([k]) => k !== 'ttl_ms')
              .sort(),
          );
        expect(deriveIdempotencyKey(fields(x)) === deriveIdempotencyKey(fields(y))).toBe(same);
      }),
    );
  });

  it('changes the key when exactly one defining field changes', () => {
    const base = { ...newIntent(1), schema_version: 1 as const };
    const changes: Record<string, unknown> = {
      strategy_id: 'strat-b',
      account: 'acc-2',
      intent_id: 'intent-x',
      symbol: '2317',
      side: 'SELL',
      qty: 1_001,
      price: 5_805_001,
      tif: 'IOC',
    };
    const keys = new Set([deriveIdempotencyKey(base)]);
    for (const [field, value] of Object.entries(changes))
      keys.add(deriveIdempotencyKey({ ...base, [field]: value }));
    expect(keys.size).toBe(Object.keys(changes).length + 1);
  });

  it('derives the key and client order id as sha256 of their documented inputs', () => {
    const base32 = (bytes: Buffer) => {
      let bits = '';
      for (const b of bytes) bits += b.toString(2).padStart(8, '0');
      let out = '';
      for (let i = 0; i < 100; i += 5)
        out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(bits.slice(i, i + 5), 2)];
      return out;
    };
    fc.assert(
      fc.property(arbInput, (input) => {
        const envelope = IntentClient.envelope(input);
        const key = createHash('sha256').update(canonicalPayload(envelope)).digest('hex');
        expect(envelope.idempotency_key).toBe(key);
        expect(deriveIdempotencyKey(envelope)).toBe(key);
        const coid = base32(createHash('sha256').update(`coid/v1:${key}`).digest());
        expect(deriveClientOrderId(key)).toBe(coid);
      }),
    );
  });

  it('derives 20-character base32 client order ids that the validator accepts as targets', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const coid = deriveClientOrderId(IntentClient.envelope(input).idempotency_key);
        expect(coid).toMatch(/^[A-Z2-7]{20}$/);
      }),
    );
  });
});

describe('envelope validator (property)', () => {
  it('accepts every well-formed envelope and round-trips it', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const envelope = IntentClient.envelope(input);
        expect(parseEnvelope(serializeEnvelope(envelope))).toEqual(envelope);
      }),
    );
  });

  it('never throws anything but EnvelopeError on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(() => validateEnvelope(value)).toThrow(EnvelopeError);
      }),
    );
  });

  it('rejects any single field replaced by an arbitrary value unless it happens to stay valid', () => {
    const fields = Object.keys(valid());
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
        const reason = rejectReason({ ...valid(), [field]: value });
        if (reason !== 'accepted') expect(Object.keys(CODES)).toContain(reason);
        else expect(validateEnvelope({ ...valid(), [field]: value })).toBeTruthy();
      }),
    );
  });
});
