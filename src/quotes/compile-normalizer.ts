import type { RejectReason } from '../errors.js';
import type { FieldType, KindSpec } from './quote-schema-v1.js';

export type FieldValue = number | boolean | string | number[];

/** Why one field failed. A class, so the generated code tells it from a value with one `instanceof`. */
export class FieldFailure {
  constructor(
    readonly reason: Extract<RejectReason, `QUOTE_${string}`>,
    readonly detail: string,
  ) {}
}

/** The first failing field of a payload. */
export class FieldError {
  constructor(
    readonly field: string,
    readonly failure: FieldFailure,
  ) {}
}

export type Converter = (raw: unknown) => FieldValue | FieldFailure;

/** Reads every v1 field of one kind from a parsed payload and converts it, or names the first failure. */
export type Normalizer = (payload: Record<string, unknown>) => Record<string, FieldValue> | FieldError;

const IDENTIFIER = /^[a-z][a-z0-9_]*$/;
const MISSING = new FieldFailure('QUOTE_MISSING_FIELD', 'missing');

/**
 * Compiles the field table of one quote kind into a straight-line function: `p.close` rather than
 * `p[key]` in a loop, and the result built as one object literal. A generic table walk does keyed loads
 * and stores with a different key each iteration, which V8 cannot specialize (megamorphic); measured, it
 * cost about as much as the JSON.parse before it. The generated code is fixed by the schema table (field
 * names are checked to be plain identifiers), never by input.
 */
export function compileNormalizer(
  spec: KindSpec,
  converters: Readonly<Record<FieldType, Converter>>,
): Normalizer {
  const names = Object.keys(spec);
  const lines: string[] = ['"use strict";'];
  names.forEach((name, i) => {
    if (!IDENTIFIER.test(name)) throw new Error(`schema field name ${name} is not a plain identifier`);
    lines.push(
      `const r${i} = p.${name};`,
      `if (r${i} === undefined) return new FieldError(${JSON.stringify(name)}, MISSING);`,
      `const v${i} = ${spec[name]}(r${i});`,
      `if (v${i} instanceof FieldFailure) return new FieldError(${JSON.stringify(name)}, v${i});`,
    );
  });
  lines.push(`return { ${names.map((name, i) => `${name}: v${i}`).join(', ')} };`);
  const types = [...new Set(Object.values(spec))];
  const factory = new Function(
    'FieldFailure',
    'FieldError',
    'MISSING',
    ...types,
    `return function normalize(p) {\n${lines.join('\n')}\n};`,
  ) as (...args: unknown[]) => Normalizer;
  return factory(FieldFailure, FieldError, MISSING, ...types.map((t) => converters[t]));
}
