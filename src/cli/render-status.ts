import type { MemberStatus } from '../../ha/status-board.js';

/** The `hft ha status` table: one row per gateway; rows not refreshed for 3 s are marked stale. */
export function renderStatus(members: readonly MemberStatus[], epoch: number, nowNs: bigint): string {
  const header = [
    'gateway',
    'role',
    'epoch',
    'lease ms',
    'may dispatch',
    'failovers',
    'last failover ms',
    'lease nodes',
    'age ms',
  ];
  const rows = members.map((m) => {
    const ageMs = Number((nowNs - BigInt(m.updatedTsNs)) / 1_000_000n);
    return [
      m.processId,
      ageMs > 3_000 ? `${m.role} (stale)` : m.role,
      String(m.epoch),
      String(m.leaseRemainingMs),
      m.mayDispatch ? 'yes' : 'no',
      String(m.failovers),
      m.lastFailoverMs === null ? '-' : String(m.lastFailoverMs),
      `${m.leaseNodesUp}/${m.leaseNodes}`,
      String(ageMs),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [`cluster epoch ${epoch}`, line(header), ...rows.map(line), ''].join('\n');
}
