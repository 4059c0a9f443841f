import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODES, GatewayError, RETIRED_CODES } from '../src/errors.js';

const runbook = readFileSync(new URL('../runbooks/error-codes.md', import.meta.url), 'utf8');

describe('error catalogue', () => {
  it('documents every code in runbooks/error-codes.md', () => {
    const undocumented = Object.keys(CODES).filter((code) => !runbook.includes(`\`${code}\``));
    expect(undocumented).toEqual([]);
  });

  it('documents no code the catalogue does not define (stale docs)', () => {
    const documented = [...runbook.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string);
    const unknown = documented.filter((code) => !(code in CODES) && !RETIRED_CODES.includes(code as string));
    expect(unknown).toEqual([]);
  });

  it('never reuses a retired code', () => {
    expect(RETIRED_CODES.filter((code) => code in CODES)).toEqual([]);
  });

  it('carries code, http status and retryability on a thrown error', () => {
    const err = new GatewayError('GW_ERR_INFLIGHT_FULL', '1024 in flight', { in_flight: 1024 });
    expect(err).toMatchObject({ code: 'GW_ERR_INFLIGHT_FULL', http: 429, retryable: true });
    expect(err.toJSON()).toMatchObject({ code: 'GW_ERR_INFLIGHT_FULL', in_flight: 1024 });
    expect(err.message).toContain('1024 in flight');
  });
});
