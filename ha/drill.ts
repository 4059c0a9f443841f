import { GatewayError } from '../src/errors.js';
import type { VenueOrderRecord } from '../src/venue/protocol.js';
import type { AdminStepDownReport } from './gateway-ha.js';
import type { MemberStatus, StatusBoard } from './status-board.js';

export interface DrillOptions {
  readonly board: StatusBoard;
  readonly adminToken: string;
  /** venue-sim oracle (http://host:port): enables first-dispatch timing and the answered-twice check. */
  readonly venueUrl?: string;
  /** How long to wait for the new leader and its first dispatch. */
  readonly timeoutMs?: number;
  readonly reason?: string;
}

export interface DrillReport {
  readonly ok: boolean;
  readonly from: string;
  readonly to: string | null;
  readonly oldEpoch: number;
  readonly newEpoch: number | null;
  /** Intent entries read but unacknowledged when the step-down began (in flight). */
  readonly inFlightAtStepDown: number | null;
  readonly drainMs: number;
  /** Step-down request → new leader ACTIVE (lease won, epoch taken). */
  readonly stepDownToNewLeaderMs: number | null;
  /** Step-down request → the venue's first order from the new epoch (null without a venue or traffic). */
  readonly stepDownToFirstDispatchMs: number | null;
  /** Lease released → the venue's first order from the new epoch: the handover gap proper. */
  readonly releaseToFirstDispatchMs: number | null;
  /** Client order ids sent more than once during the drill, as the venue saw them (must be 0). */
  readonly answeredTwice: number | null;
  readonly problems: string[];
}

const STALE_AFTER_NS = 5_000_000_000n;

/**
 * A planned failover drill: find the ACTIVE gateway on the status board, ask it (admin API) to step down,
 * wait for another gateway to take over, and report timing, in-flight intents and duplicates.
 */
export async function runDrill(opts: DrillOptions): Promise<DrillReport> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const leader = await findLeader(opts.board);
  const lastEvent = (await opts.board.transitions()).at(-1)?.id ?? '-';
  const venueBefore = opts.venueUrl ? await venueOrders(opts.venueUrl) : undefined;
  const res = await fetch(`${leader.opsUrl}/admin/ha/step-down`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: opts.reason ?? 'hft ha drill' }),
  });
  if (!res.ok) {
    throw new GatewayError(
      'GW_ERR_NOT_LEADER',
      `step-down refused by ${leader.processId}: HTTP ${res.status} ${await res.text()}`,
    );
  }
  const stepDown = (await res.json()) as AdminStepDownReport;
  const problems: string[] = [];
  const deadline = Date.now() + timeoutMs;
  let takeover: { processId: string; epoch: number; tsNs: string } | undefined;
  while (!takeover && Date.now() < deadline) {
    const events = await opts.board.transitions(lastEvent);
    takeover = events.find((e) => e.to === 'ACTIVE' && e.epoch > stepDown.epoch);
    if (!takeover) await sleep(10);
  }
  if (!takeover) problems.push(`no gateway took over within ${timeoutMs} ms`);
  const started = BigInt(stepDown.stepDownStartedTsNs);
  const released = BigInt(stepDown.releasedTsNs);
  let firstDispatch: VenueOrderRecord | undefined;
  let answeredTwice: number | null = null;
  if (opts.venueUrl && takeover) {
    while (!firstDispatch && Date.now() < deadline) {
      firstDispatch = (await venueOrders(opts.venueUrl)).find((o) => o.epoch >= (takeover?.epoch ?? 0));
      if (!firstDispatch) await sleep(25);
    }
    if (!firstDispatch) problems.push('the new leader dispatched nothing within the timeout (no traffic?)');
    const after = await venueOrders(opts.venueUrl);
    answeredTwice = duplicatesSince(venueBefore ?? [], after);
    if (answeredTwice > 0) problems.push(`${answeredTwice} client order ids sent twice`);
  }
  const ms = (ns: bigint) => Math.round(Number(ns) / 1e5) / 10;
  return {
    ok: problems.length === 0,
    from: leader.processId,
    to: takeover?.processId ?? null,
    oldEpoch: stepDown.epoch,
    newEpoch: takeover?.epoch ?? null,
    inFlightAtStepDown: stepDown.pendingAtStepDown ?? stepDown.inFlightAtStepDown,
    drainMs: stepDown.drainMs,
    stepDownToNewLeaderMs: takeover ? ms(BigInt(takeover.tsNs) - started) : null,
    stepDownToFirstDispatchMs: firstDispatch ? ms(BigInt(firstDispatch.receivedTsNs) - started) : null,
    releaseToFirstDispatchMs: firstDispatch ? ms(BigInt(firstDispatch.receivedTsNs) - released) : null,
    answeredTwice,
    problems,
  };
}

async function findLeader(board: StatusBoard): Promise<MemberStatus> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const active = (await board.members()).filter(
    (m) => m.role === 'ACTIVE' && now - BigInt(m.updatedTsNs) < STALE_AFTER_NS && m.opsUrl,
  );
  if (active.length !== 1) {
    throw new GatewayError(
      'GW_ERR_NOT_LEADER',
      `expected one fresh ACTIVE gateway on the board, found ${active.length}`,
    );
  }
  return active[0] as MemberStatus;
}

/** Orders whose client order id was sent again during the drill (new duplicate attempts or repeats). */
function duplicatesSince(before: readonly VenueOrderRecord[], after: readonly VenueOrderRecord[]): number {
  const attemptsBefore = new Map(before.map((o) => [o.clientOrderId, o.duplicateAttempts]));
  const seen = new Map<string, number>();
  for (const o of after) seen.set(o.clientOrderId, (seen.get(o.clientOrderId) ?? 0) + 1);
  let twice = 0;
  for (const o of after) {
    if (o.duplicateAttempts > (attemptsBefore.get(o.clientOrderId) ?? 0)) twice += 1;
  }
  for (const n of seen.values()) if (n > 1) twice += n - 1;
  return twice;
}

async function venueOrders(url: string): Promise<VenueOrderRecord[]> {
  const res = await fetch(`${url}/orders`);
  return ((await res.json()) as { orders: VenueOrderRecord[] }).orders;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
