import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QuoteTopic } from '../../src/quotes/config.js';
import { FeedSimulator } from '../../src/quotes/feed-sim.js';
import { BUILD_FIELDS, LAYOUTS } from '../../src/quotes/quote-fields.js';
import { KIND_SPECS, QUOTE_KINDS } from '../../src/quotes/quote-schema-v1.js';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import { FOP_TICK_PAYLOAD, STOCK_BIDASK_PAYLOAD, STOCK_TICK_PAYLOAD, envelope } from './quote-fixtures.js';

/*
 * The scanner (the fast path) must give the reference path's answer on every input: it accepts only
 * quotes the reference accepts, with the same normalized result, and hands everything else over.
 * `validate` is scanner-then-reference; `reference` is the reference alone.
 */
function validator(override = false) {
  return new QuoteValidator({
    maxPayloadBytes: 4_096,
    acceptVersions: override ? ['v1.1'] : [],
    acceptUnknownFields: override,
  });
}

function agrees(v: QuoteValidator, raw: string | Buffer, topic: QuoteTopic) {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  expect(v.validate(raw, topic, '7', 3)).toEqual(v.reference(text, topic, '7', 3));
}

/** Runs `raw` and reports whether the scanner took it (true) or handed it to the reference. */
function fastPath(v: QuoteValidator, raw: string | Buffer, topic: QuoteTopic): boolean {
  const before = v.slowPath;
  agrees(v, raw, topic);
  return v.slowPath === before;
}

const TICK = JSON.parse(envelope('stock_tick', STOCK_TICK_PAYLOAD));
const BIDASK = JSON.parse(envelope('stock_bidask', STOCK_BIDASK_PAYLOAD));

describe('quote scanner (fast path) against the reference validator', () => {
  it('takes every simulator quote on the fast path, with the reference result, as string or bytes', async () => {
    const v = validator();
    for (const seed of [1, 2, 3]) {
      const sim = new FeedSimulator({ seed, simtradePerMille: 100 });
      await sim.subscribe(['2330', '0050', 'TXFL6', 'MXFL6', '2317'], ['tick', 'bidask']);
      for (const q of sim.generate(3_000)) {
        expect(fastPath(v, q.payload, q.topic)).toBe(true);
        expect(fastPath(v, Buffer.from(q.payload), q.topic)).toBe(true);
      }
    }
  });

  it('reads any key order and JSON whitespace on the fast path', () => {
    const v = validator();
    const reversed = {
      kind: 'stock_tick',
      quote_version: 'v1',
      payload: Object.fromEntries(Object.entries(STOCK_TICK_PAYLOAD).reverse()),
    };
    expect(fastPath(v, JSON.stringify(reversed), 'tick')).toBe(true);
    expect(fastPath(v, JSON.stringify(TICK, null, 2), 'tick')).toBe(true);
    expect(fastPath(v, JSON.stringify(BIDASK, null, '\t'), 'bidask')).toBe(true);
    expect(fastPath(v, ` \r\n${JSON.stringify(BIDASK)}\n`, 'bidask')).toBe(true);
    // A changed order after a learned one still reads (the prediction misses, the lookup finds).
    expect(fastPath(v, envelope('stock_tick', STOCK_TICK_PAYLOAD), 'tick')).toBe(true);
  });

  it.each([
    [
      'an escaped character in the code',
      envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"2330"', '"\\u00322330"'),
    ],
    ['an escaped key', envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"close"', '"clos\\u0065"')],
    [
      'an integer written 3.0',
      envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"volume":3', '"volume":3.0'),
    ],
    [
      'an integer written 3e0',
      envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"volume":3', '"volume":3e0'),
    ],
    [
      'a 16-digit integer',
      envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"volume":3', '"volume":1234567890123456'),
    ],
    ['a leading zero', envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"volume":3', '"volume":03')],
    ['a duplicate key', envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"open":', '"close":"1","open":')],
    ['an unknown key', envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, extra: 1 })],
    [
      'payload before kind',
      JSON.stringify({ quote_version: 'v1', payload: STOCK_TICK_PAYLOAD, kind: 'stock_tick' }),
    ],
    ['another version', envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"v1"', '"v1.1"')],
    ['a negative price', envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, open: '-1' })],
    ['a price of -0', envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, open: '-0.0' })],
    ['five decimal places', envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, open: '1.00001' })],
    ['a non-ASCII code', envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, code: '23é0' })],
    ['trailing text', `${envelope('stock_tick', STOCK_TICK_PAYLOAD)}x`],
    ['a cut-off quote', envelope('stock_tick', STOCK_TICK_PAYLOAD).slice(0, -2)],
    ['four book levels', envelope('stock_bidask', { ...STOCK_BIDASK_PAYLOAD, bid_volume: [1, 2, 3, 4] })],
    ['a missing field', envelope('fop_tick', { ...FOP_TICK_PAYLOAD, close: undefined })],
  ])('hands %s to the reference and gives its answer', (_name, raw) => {
    const v = validator();
    const topic = raw.includes('bidask') ? 'bidask' : 'tick';
    expect(fastPath(v, raw, topic)).toBe(false);
    expect(fastPath(validator(true), raw, topic)).toBe(false);
  });

  it('takes -0 where an integer belongs, as the reference does (JSON.parse gives -0, a safe integer)', () => {
    const raw = envelope('stock_tick', STOCK_TICK_PAYLOAD).replace('"volume":3', '"volume":-0');
    const v = validator();
    expect(fastPath(v, raw, 'tick')).toBe(true);
    const verdict = v.validate(raw, 'tick', '7', 3);
    expect(verdict.ok && Object.is(verdict.quote.fields.volume, -0)).toBe(true);
  });

  it('agrees with the reference on valid quotes with any slice replaced by arbitrary text', () => {
    const v = validator();
    const base = [envelope('stock_tick', STOCK_TICK_PAYLOAD), envelope('stock_bidask', STOCK_BIDASK_PAYLOAD)];
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.nat(),
        fc.nat({ max: 6 }),
        fc.string({ maxLength: 6, unit: fc.constantFrom(...'0123456789.-"e,:{}[] \\tnrufalseé€\u0000') }),
        (which, at, cut, insert) => {
          const text = base[which] as string;
          const i = at % text.length;
          const mutated = text.slice(0, i) + insert + text.slice(i + cut);
          const topic = which === 0 ? 'tick' : 'bidask';
          agrees(v, mutated, topic);
          agrees(v, Buffer.from(mutated), topic);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('agrees with the reference on valid quotes as bytes with arbitrary bytes spliced in (invalid UTF-8 too)', () => {
    const v = validator();
    const base = Buffer.from(envelope('stock_tick', STOCK_TICK_PAYLOAD));
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 4 }), (at, cut, insert) => {
        const i = at % base.length;
        agrees(v, Buffer.concat([base.subarray(0, i), insert, base.subarray(i + cut)]), 'tick');
      }),
      { numRuns: 10_000 },
    );
  });

  it('agrees with the reference on arbitrary JSON and text, with or without the override', () => {
    const v = validator();
    const o = validator(true);
    fc.assert(
      fc.property(
        fc.oneof(fc.json(), fc.string({ maxLength: 64 })),
        fc.constantFrom('tick', 'bidask'),
        (raw, topic) => {
          agrees(v, raw, topic as QuoteTopic);
          agrees(o, raw, topic as QuoteTopic);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('builds every kind with exactly the schema fields, in schema order', () => {
    for (const kind of QUOTE_KINDS) {
      const names = LAYOUTS[kind].names;
      expect(names).toEqual(Object.keys(KIND_SPECS[kind]));
      expect(Object.keys(BUILD_FIELDS[kind](names.map((_, i) => i)))).toEqual(names);
      expect(Object.values(BUILD_FIELDS[kind](names.map((_, i) => i)))).toEqual(names.map((_, i) => i));
    }
  });
});
