/** The cluster-wide fail-safe modes, in increasing severity. */
export const POLICY_MODES = ['NORMAL', 'DEGRADED', 'HALT'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

export const SEVERITY: Readonly<Record<PolicyMode, number>> = Object.freeze({
  NORMAL: 0,
  DEGRADED: 1,
  HALT: 2,
});

export function isPolicyMode(value: unknown): value is PolicyMode {
  return typeof value === 'string' && (POLICY_MODES as readonly string[]).includes(value);
}

export function moreSevere(a: PolicyMode, b: PolicyMode): PolicyMode {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

/** One read of the policy hash. */
export interface PolicyState {
  readonly mode: PolicyMode;
  readonly reason: string;
  readonly actor: string;
  readonly changedTsNs: string;
}

/** `operator:<name>` is the only actor kind allowed to lower severity. */
export const OPERATOR_ACTOR = /^operator:[A-Za-z0-9_.-]+$/;

export type ActorKind = 'operator' | 'auto' | 'local';

export function actorKind(actor: string): ActorKind {
  if (actor.startsWith('operator:')) return 'operator';
  if (actor.startsWith('local:')) return 'local';
  return 'auto';
}
