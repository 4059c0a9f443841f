/**
 * Roles of one gateway process. The only legal paths are
 *   STANDBY → ACTIVE → STEPPING_DOWN → STANDBY   (planned: finish in-flight, release the lease)
 *   STANDBY → ACTIVE → FENCED → STANDBY          (unplanned: lease lost / could expire / FENCED answer)
 *   STEPPING_DOWN → FENCED                       (the lease is lost while draining)
 * Only ACTIVE may dispatch.
 */
export const ROLES = ['STANDBY', 'ACTIVE', 'STEPPING_DOWN', 'FENCED'] as const;
export type Role = (typeof ROLES)[number];

const ALLOWED: Readonly<Record<Role, readonly Role[]>> = Object.freeze({
  STANDBY: ['ACTIVE'],
  ACTIVE: ['STEPPING_DOWN', 'FENCED'],
  STEPPING_DOWN: ['STANDBY', 'FENCED'],
  FENCED: ['STANDBY'],
});

export function canTransition(from: Role, to: Role): boolean {
  return ALLOWED[from].includes(to);
}

/** Numeric code of each role for the `hft_ha_role_code` gauge (dashboards that want one series). */
export const ROLE_CODE: Readonly<Record<Role, number>> = Object.freeze({
  STANDBY: 0,
  ACTIVE: 1,
  STEPPING_DOWN: 2,
  FENCED: 3,
});
