import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonPayload } from '../../src/wal/json-payload.js';

/** A JSON value of the kinds the payload builder writes: plain ASCII keys and text, safe integers. */
type Value = number | boolean | string | Value[] | { [key: string]: Value };

const plainText = fc.stringMatching(/^[\x20-\x21\x23-\x5b\x5d-\x7f]{0,24}$/);
const { value: arbitraryValue } = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.maxSafeInteger(),
    fc.constantFrom(-0, 2 ** 31, 1e8, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
    fc.boolean(),
    plainText,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(plainText, tie('value'), { maxKeys: 5 }),
  ),
}));

function build(json: JsonPayload, v: Value): void {
  if (typeof v === 'number') json.int(v);
  else if (typeof v === 'boolean') json.bool(v);
  else if (typeof v === 'string') json.text(v);
  else if (Array.isArray(v)) {
    json.beginArray();
    for (const item of v) build(json, item);
    json.endArray();
  } else {
    json.beginObject();
    for (const [k, item] of Object.entries(v)) {
      json.key(JsonPayload.prepareKey(k));
      build(json, item);
    }
    json.endObject();
  }
}

/** What a WAL record's payload string holds for `v`, without its quotes. */
const escapedForm = (v: Value) => JSON.stringify(JSON.stringify(v)).slice(1, -1);
const built = (json: JsonPayload) => (json.size < 0 ? null : json.buf.toString('latin1', 0, json.size));

describe('JsonPayload', () => {
  it('builds JSON.stringify of any value, already escaped as a record payload string', () => {
    const json = new JsonPayload();
    fc.assert(
      fc.property(arbitraryValue, (v) => {
        build(json.reset(), v);
        expect(built(json)).toBe(escapedForm(v));
      }),
      { numRuns: 2_000 },
    );
  });

  it('fails on anything that would not be that: bad text, numbers, structure, size', () => {
    const cases: [string, (j: JsonPayload) => unknown][] = [
      ['text with a quote', (j) => j.text('a"b')],
      ['text with a backslash', (j) => j.text('a\\b')],
      ['text with a control character', (j) => j.text('a\nb')],
      ['non-ASCII text', (j) => j.text('é')],
      ['a fraction', (j) => j.int(0.5)],
      ['an unsafe integer', (j) => j.int(2 ** 53)],
      ['NaN', (j) => j.int(Number.NaN)],
      ['a key outside an object', (j) => j.key(JsonPayload.prepareKey('a'))],
      ['a key at the top level inside an array', (j) => j.beginArray().key(JsonPayload.prepareKey('a'))],
      ['a value where a key belongs', (j) => j.beginObject().int(1)],
      [
        'two keys in a row',
        (j) => j.beginObject().key(JsonPayload.prepareKey('a')).key(JsonPayload.prepareKey('b')),
      ],
      ['a key without a value', (j) => j.beginObject().key(JsonPayload.prepareKey('a')).endObject()],
      ['an unclosed object', (j) => j.beginObject()],
      ['the wrong closer', (j) => j.beginObject().endArray()],
      ['a closer too many', (j) => j.beginArray().endArray().endArray()],
      ['two top-level values', (j) => j.int(1).int(2)],
      ['nothing at all', () => undefined],
      ['past the capacity', (j) => j.text('x'.repeat(100))],
      [
        'deeper than 32 levels',
        (j) => {
          for (let i = 0; i < 33; i++) j.beginArray();
          for (let i = 0; i < 33; i++) j.endArray();
        },
      ],
    ];
    for (const [name, misuse] of cases) {
      const json = new JsonPayload(64);
      misuse(json);
      expect(json.size, name).toBe(-1);
      // reset() makes it usable again.
      expect(built(json.reset().beginArray().int(-0).bool(true).endArray())).toBe('[0,true]');
    }
    expect(() => JsonPayload.prepareKey('a"b')).toThrow();
    expect(() => JsonPayload.prepareKey('ключ')).toThrow();
  });
});
