import type { RejectReason } from '../errors.js';

/**
 * Status codes of the gateway scripts (admitIntent-n, recordOutcome-n, applyExecution-6, markAttempt-3). One
 * enum for all of them, so a code means the same thing wherever it appears. Positive/zero: success; negative: the named
 * condition, each mapped to a reject reason or a typed error by the caller.
 */
export enum GatewayScriptCode {
  ADMITTED = 1,
  NOTHING_TO_DO = 0,
  FENCED = -1,
  DUPLICATE = -2,
  IN_FLIGHT = -3,
  RESOLVED = -4,
  POLICY_HALT = -5,
  POLICY_REDUCE_ONLY = -6,
  EXPOSURE_SYMBOL_LIMIT = -7,
  EXPOSURE_STRATEGY_LIMIT = -8,
  EXPOSURE_ACCOUNT_LIMIT = -9,
  EXPOSURE_LIMIT = -10,
  UNKNOWN_ORDER = -11,
  BAD_ARGUMENT = -12,
  NOT_FOUND = -13,
  NOT_ADMITTED = -14,
  /** EXPIRED/ABORTED or a new attempt from a dispatcher whose attempt is no longer the latest. */
  SUPERSEDED = -15,
  /** The entry's latest dispatch attempt is this epoch's and younger than the orphan age. */
  ATTEMPT_LIVE = -16,
}

/** Admit codes that are business rejects, with the catalogue reason each becomes. */
export const ADMIT_REJECTS: Readonly<Partial<Record<GatewayScriptCode, RejectReason>>> = Object.freeze({
  [GatewayScriptCode.POLICY_HALT]: 'POLICY_HALT',
  [GatewayScriptCode.POLICY_REDUCE_ONLY]: 'POLICY_REDUCE_ONLY',
  [GatewayScriptCode.EXPOSURE_SYMBOL_LIMIT]: 'EXPOSURE_SYMBOL_LIMIT',
  [GatewayScriptCode.EXPOSURE_STRATEGY_LIMIT]: 'EXPOSURE_STRATEGY_LIMIT',
  [GatewayScriptCode.EXPOSURE_ACCOUNT_LIMIT]: 'EXPOSURE_ACCOUNT_LIMIT',
  [GatewayScriptCode.EXPOSURE_LIMIT]: 'EXPOSURE_LIMIT',
  [GatewayScriptCode.UNKNOWN_ORDER]: 'UNKNOWN_ORDER',
});
