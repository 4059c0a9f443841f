import { runDrill } from '../ha/drill.js';
import { ExposureReader } from '../src/exposure/exposure-reader.js';
import { journalFields } from '../src/journal/journal-entry.js';
import { waitFor } from '../test/harness/process.js';
import { ADMIN_TOKEN, Cluster, type ClusterOptions, clusterLimits } from './cluster.js';
import {
  type ExposurePeak,
  type LevelSample,
  type JournalRow,
  exposureFromJournal,
  exposureFromVenue,
  exposureMismatches,
  journalVersusVenue,
  levelSamples,
} from './exposure-check.js';
import { checkInvariants, percentile } from './invariants.js';
import type { VenueOrderRecord } from '../src/venue/protocol.js';
import type { WorkerReport } from './strategy-worker.js';
import { WORKER_PRICE_SCALED } from './symbols.js';

export interface ScenarioOptions {
  readonly kills: number;
  readonly cluster: ClusterOptions;
}

export interface ScenarioSummary {
  readonly scenario: string;
  readonly ok: boolean;
  readonly kills: number;
  readonly pauses: number;
  readonly failoverMs: { p50: number | null; p99: number | null; max: number | null; samples: number[] };
  /** Unplanned takeovers: how many broke a dead holder's lease early, and signal → new term ACTIVE. */
  readonly takeovers: {
    viaBreak: number;
    viaExpiry: number;
    activeMs: { p50: number | null; p99: number | null; max: number | null };
    samples: Array<{ activeMs: number | null; broke: boolean; firstDispatchMs: number }>;
  };
  readonly duplicates: number;
  readonly duplicateAttempts: number;
  readonly lost: number;
  readonly unknown: number;
  readonly phantom: number;
  readonly staleEpochOrders: number;
  /** Leadership terms ended by fencing (lease lost, could expire within the margin, FENCED answer). */
  readonly fencedAttempts: number;
  readonly maxExposure: number;
  readonly exposureLimit: number;
  /** Highest worst-case exposure per limited level, sampled from Redis every 100 ms, and its limit. */
  readonly exposurePeaks: Record<string, ExposurePeak>;
  /** After the run: the Redis exposure hash equals what the venue holds (fills, open orders), per level. */
  readonly exposureMatchesVenue: boolean;
  /** Decisions rejected, by reason, over all workers. */
  readonly rejects: Record<string, number>;
  /** Cluster policy modes sampled during the run. */
  readonly policyModes: string[];
  readonly accepted: number;
  readonly venueOrders: number;
  readonly durationMs: number;
  readonly violations: string[];
  readonly notes: string[];
}

interface Run {
  readonly cluster: Cluster;
  readonly failovers: number[];
  readonly takeovers: Array<{ activeMs: number | null; broke: boolean; firstDispatchMs: number }>;
  readonly notes: string[];
  readonly violations: string[];
  kills: number;
  pauses: number;
}

type Body = (run: Run, opts: ScenarioOptions) => Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wallNs = () => BigInt(Date.now()) * 1_000_000n;

/** Time from `sinceNs` until the venue receives the first order of an epoch above `epochBefore`. */
async function firstDispatchAfter(cluster: Cluster, epochBefore: number, sinceNs: bigint): Promise<number> {
  await cluster.waitForLeader(30_000);
  const order = await waitFor(
    `an order from an epoch above ${epochBefore}`,
    async () => (await cluster.venue.orders()).find((o) => o.epoch > epochBefore),
    { timeoutMs: 30_000, intervalMs: 100 },
  ).catch(async (err: unknown) => {
    const events = (await cluster.board.transitions()).map(
      (e) => `${e.processId}:${e.to}@${e.epoch}(${e.reason})`,
    );
    const workers = cluster.workers.map((w) => JSON.stringify(w.stats()));
    const logs = cluster.gateways.map((g) =>
      g
        .output()
        .split('\n')
        .filter((l) => /"level":"(warn|error)"/.test(l))
        .slice(-3)
        .join('\n'),
    );
    throw new Error(
      `${String(err)}\nevents: ${events.join(' ')}\nworkers: ${workers.join(' ')}\n${logs.join('\n')}`,
    );
  });
  return Number(BigInt(order.receivedTsNs) - sinceNs) / 1e6;
}

/**
 * The operator step of the runbooks: once a leader is ready again (broker connected, permit valid), leave a
 * HALT/DEGRADED the fault tripped, and again if a trip that was already in flight lands after the resume.
 */
async function resumeOnceHealthy(run: Run, reason: string): Promise<void> {
  const { cluster } = run;
  await cluster.waitForLeader(30_000);
  let quietSince = Date.now();
  while (Date.now() - quietSince < 1_500) {
    const policy = await cluster.redis
      .hgetall(cluster.keys.policy())
      .catch(() => ({}) as Record<string, string>);
    if (policy.mode && policy.mode !== 'NORMAL') {
      run.notes.push(`policy ${policy.mode} (${policy.reason ?? ''}) → operator resume`);
      await cluster.operatorResume(reason);
      quietSince = Date.now();
    }
    await sleep(100);
  }
}

/**
 * How the takeover after `sinceNs` went: signal → new term ACTIVE (lease won, epoch taken) and whether the
 * standby broke the dead holder's lease or waited for it to expire (from the HA event stream).
 */
async function takeover(cluster: Cluster, epochBefore: number, sinceNs: bigint) {
  const won = (await cluster.board.transitions()).find((e) => e.to === 'ACTIVE' && e.epoch > epochBefore);
  return {
    activeMs: won ? Math.round(Number(BigInt(won.tsNs) - sinceNs) / 1e6) : null,
    broke: won?.reason.includes('breaking a dead holder') ?? false,
  };
}

/** Leader SIGKILL, repeated: each kill measured from the signal to the new leader's first venue order. */
const leaderKill: Body = async (run, opts) => {
  for (let i = 0; i < opts.kills; i += 1) {
    await run.cluster.waitForLeader();
    await sleep(200 + Math.floor(Math.random() * 400));
    await killLeaderMeasured(run);
  }
};

/**
 * SIGKILLs the current leader and records the failover (signal → the new leader's first venue order) and
 * how the takeover happened. The killed gateway is restarted (as a standby) only once the takeover is
 * measured: on a 2-core box its tsx start-up would otherwise compete with the new leader's activation.
 */
async function killLeaderMeasured(run: Run): Promise<void> {
  const { cluster } = run;
  const leader = await cluster.waitForLeader();
  const epochBefore = await cluster.currentEpoch();
  const killedAt = wallNs();
  await leader.kill();
  run.kills += 1;
  const ms = await firstDispatchAfter(cluster, epochBefore, killedAt);
  run.failovers.push(ms);
  const how = await takeover(cluster, epochBefore, killedAt);
  run.takeovers.push({ ...how, firstDispatchMs: Math.round(ms) });
  await leader.start();
}

/** Leader SIGSTOP for longer than the TTL, then SIGCONT: the zombie must be fenced, never dispatch. */
const leaderPause: Body = async (run, opts) => {
  const { cluster } = run;
  const ttl = opts.cluster.ttlMs ?? 1_000;
  for (let i = 0; i < 3; i += 1) {
    const leader = await cluster.waitForLeader();
    await sleep(300);
    const epochBefore = await cluster.currentEpoch();
    const pausedAt = wallNs();
    const breaksBefore = await deadHolderBreaks(cluster);
    leader.pause();
    run.pauses += 1;
    const ms = await firstDispatchAfter(cluster, epochBefore, pausedAt);
    run.failovers.push(ms);
    run.takeovers.push({
      ...(await takeover(cluster, epochBefore, pausedAt)),
      firstDispatchMs: Math.round(ms),
    });
    // A paused process keeps its TCP connections open: its lease must be waited out, never broken early.
    const breaks = (await deadHolderBreaks(cluster)) - breaksBefore;
    if (breaks > 0) run.violations.push(`a paused leader's lease was broken early (${breaks} node(s))`);
    await sleep(Math.max(0, ttl * 2.5 - Number(wallNs() - pausedAt) / 1e6));
    leader.resume();
    // The resumed zombie must come back as STANDBY (its lease expired while stopped) and stay not ready.
    await waitFor(`${leader.id} back to STANDBY after SIGCONT`, async () => {
      const member = (await cluster.board.members()).find((m) => m.processId === leader.id);
      return member?.role === 'STANDBY' && !(await leader.ready());
    });
    const leaders = await cluster.leaders();
    if (leaders.length !== 1) run.violations.push(`after SIGCONT ${leaders.length} gateways report ready`);
  }
};

/** One of three lease nodes killed, then restarted after more than a TTL: the leader must not change. */
const leaseNode: Body = async (run, opts) => {
  const { cluster } = run;
  const ttl = opts.cluster.ttlMs ?? 1_000;
  const leader = await cluster.waitForLeader();
  const epoch = await cluster.currentEpoch();
  for (const node of cluster.leaseNodes.slice(0, Math.floor(cluster.leaseNodes.length / 2))) {
    await node.kill();
    await sleep(ttl * 3);
    // Delayed restart (> TTL): a node that lost its keys cannot help a second holder to a majority.
    await node.restart();
    await sleep(ttl * 2);
  }
  const after = await cluster.waitForLeader();
  const epochAfter = await cluster.currentEpoch();
  if (after !== leader || epochAfter !== epoch)
    run.violations.push(
      `leader changed on minority lease-node loss (${leader.id}@${epoch} → ${after.id}@${epochAfter})`,
    );
  run.notes.push(`leader ${leader.id} kept epoch ${epoch} through minority lease-node loss`);
};

/** State Redis killed and restarted (AOF): dispatch stops while it is gone and resumes after. */
const stateRedis: Body = async (run) => {
  const { cluster } = run;
  await cluster.waitForLeader();
  await sleep(500);
  await cluster.state.kill();
  await sleep(3_000);
  await cluster.state.restart();
  const restartedAt = Date.now();
  // Taken after the outage: nothing can be accepted while the state Redis is gone.
  const before = cluster.workers.reduce((n, w) => n + (w.stats().accepted ?? 0), 0);
  let resumedAfterMs = 0;
  await Promise.all([
    // The local HALT while Redis was gone lifts by itself; a cluster HALT/DEGRADED needs the operator step.
    resumeOnceHealthy(run, 'state Redis back (chaos)'),
    waitFor(
      'decisions flowing again after the state Redis restart',
      async () => cluster.workers.reduce((n, w) => n + (w.stats().accepted ?? 0), 0) > before + 20,
      { timeoutMs: 60_000, intervalMs: 100 },
    ).then(() => {
      resumedAfterMs = Date.now() - restartedAt;
    }),
  ]);
  // Worker stats lines come once a second, so this is an upper bound with ~1 s resolution.
  run.notes.push(`≥ 20 more acceptances within ${resumedAfterMs} ms of the state Redis restart`);
};

/** Venue outage while the leader is killed: the new leader reconciles and dispatches once the venue is back. */
const venueOutageFailover: Body = async (run) => {
  const { cluster } = run;
  const leader = await cluster.waitForLeader();
  await sleep(300);
  const epochBefore = await cluster.currentEpoch();
  await cluster.venue.setFaults({ outage: true });
  await sleep(300);
  const killedAt = wallNs();
  await leader.kill();
  run.kills += 1;
  const restart = leader.start();
  await sleep(1_500);
  await cluster.venue.setFaults({ outage: false });
  await resumeOnceHealthy(run, 'venue back (chaos)');
  run.failovers.push(await firstDispatchAfter(cluster, epochBefore, killedAt));
  await restart;
  run.notes.push('failover measured from the kill; the venue was down for the first 1.5 s of it');
};

/** Planned failovers through the admin API (what `hft ha drill` does), timed release → first dispatch. */
const drill: Body = async (run, opts) => {
  const { cluster } = run;
  const drills = Math.max(3, Math.min(10, opts.kills));
  for (let i = 0; i < drills; i += 1) {
    await cluster.waitForLeader();
    await sleep(300);
    const report = await runDrill({
      board: cluster.board,
      adminToken: ADMIN_TOKEN,
      venueUrl: cluster.venue.httpUrl,
    });
    if (!report.ok) run.violations.push(`drill ${i + 1}: ${report.problems.join('; ')}`);
    if (report.releaseToFirstDispatchMs !== null) run.failovers.push(report.releaseToFirstDispatchMs);
    run.notes.push(
      `drill ${i + 1}: ${report.from}→${report.to} in-flight ${report.inFlightAtStepDown} drain ${report.drainMs} ms, step-down→first dispatch ${report.stepDownToFirstDispatchMs} ms`,
    );
  }
};

/** One order's notional in the workers' intents (qty 1 000 lots at 580.5000), the unit of the limits below. */
const ORDER_NOTIONAL = WORKER_PRICE_SCALED * 1_000;

/**
 * Exposure limits pressed on purpose, through three leader kills. Workers lean to BUY (900, 700 and
 * 500 ‰), so worst-case exposure climbs to the limits within seconds and then sits at them: symbol 2330
 * at 8 orders, every strategy at 25, the account at 45 — each binds for some intents, and the rejects
 * carry EXPOSURE_SYMBOL_LIMIT, _STRATEGY_LIMIT or _ACCOUNT_LIMIT. After the run, the sampled exposure of
 * every level must never have passed its limit, and the exposure hash must equal what the venue holds.
 *
 * StormGuard for this scenario: reject storm at 1000 ‰ with at least 1000 decisions in the 10 s window.
 * A large share of decisions are EXPOSURE_* rejects here by construction — the limits working — and right
 * after a takeover a new leader's window starts empty, so its first few dozen decisions can all be limit
 * rejects (measured: trips at the default 500 ‰ and at 1000 ‰ with the default 50 samples). A trip sets
 * DEGRADED, which is reduce-only and left only by an operator: from then on increasing intents are refused
 * by the policy before any limit is reached, and the scenario would test the policy, not the limits. With
 * these settings a reject storm still trips when every one of ≥ 1000 decisions in the window is a reject
 * (≈ 8 s of nothing but rejects at this rate — e.g. a backlog older than the intents' TTL). The side effect:
 * the latency and broker-error rate trips also need 1000 observations per window, more than they get here,
 * so they are off in this scenario (it injects no latency or broker errors; the venue-outage scenario
 * exercises the broker trips). HALT trips are unchanged. The policy is sampled: anything but NORMAL fails.
 */
const exposureLimitsCluster = (base: ClusterOptions): ClusterOptions => ({
  ...base,
  limits: {
    symbolNotional: 30 * ORDER_NOTIONAL,
    strategyNotional: 25 * ORDER_NOTIONAL,
    accountNotional: 45 * ORDER_NOTIONAL,
    symbols: { '2330': 8 * ORDER_NOTIONAL },
  },
  buyPerMille: [900, 700, 500],
  stormGuard: { rejectStormPerMille: 1_000, minSamples: 1_000 },
});

const exposureLimits: Body = async (run) => {
  const { cluster } = run;
  await sleep(3_000);
  for (let i = 0; i < 3; i += 1) {
    await cluster.waitForLeader();
    await sleep(300 + Math.floor(Math.random() * 400));
    await killLeaderMeasured(run);
  }
  await sleep(2_000);
};

/** Scenarios that need a cluster configured differently from the common one. */
const CLUSTER_FOR: Readonly<Record<string, (base: ClusterOptions) => ClusterOptions>> = Object.freeze({
  'exposure-limits': exposureLimitsCluster,
});

/** Scenarios that must press the exposure limits and stay NORMAL while doing it. */
const PRESSES_LIMITS = new Set(['exposure-limits']);

export const SCENARIOS: Readonly<Record<string, Body>> = Object.freeze({
  'leader-kill': leaderKill,
  'leader-pause': leaderPause,
  'lease-node': leaseNode,
  'state-redis': stateRedis,
  'venue-outage-failover': venueOutageFailover,
  'exposure-limits': exposureLimits,
  drill,
});

/** Sum of `hft_ha_dead_holder_breaks_total` over the running, unpaused gateways. */
async function deadHolderBreaks(cluster: Cluster): Promise<number> {
  let total = 0;
  for (const g of cluster.gateways) {
    if (!g.running || g.paused) continue;
    const text = await fetch(`${g.opsUrl}/metrics`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => r.text())
      .catch(() => '');
    const line = text.split('\n').find((l) => l.startsWith('hft_ha_dead_holder_breaks_total'));
    total += line ? Number(line.split(' ').at(-1)) : 0;
  }
  return total;
}

/** `hft_gateway_decisions_total` of one gateway, compacted (for notes when a scenario goes wrong). */
async function decisionCounts(opsUrl: string): Promise<string> {
  try {
    const text = await (await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(1_000) })).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('hft_gateway_decisions_total{'))
      .map((l) => l.replace(/^hft_gateway_decisions_total\{|process_id="[^"]*",?|component="[^"]*",?/g, ''))
      .join(' ');
  } catch {
    return 'unreachable';
  }
}

/**
 * Notes that explain an exposure mismatch order by order: every level that differs (the violation shows 5),
 * whether the hash still equals the sum of the journal entries (a script bookkeeping slip) and which
 * journal entries disagree with their venue order (journalVersusVenue).
 */
async function explainMismatch(
  cluster: Cluster,
  reader: ExposureReader,
  orders: readonly VenueOrderRecord[],
  mismatch: readonly string[],
): Promise<string[]> {
  const notes = [`all ${mismatch.length} mismatched levels: ${mismatch.join('; ')}`];
  const prefix = cluster.keys.journal('');
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await cluster.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const pipeline = cluster.redis.pipeline();
  for (const k of keys) pipeline.hgetall(k);
  const rows: JournalRow[] = [];
  for (const [err, raw] of (await pipeline.exec()) ?? []) {
    const hash = raw as Record<string, string> | null;
    if (err || !hash?.state) continue;
    const r = journalFields(hash); // either journal layout
    rows.push({
      coid: r.coid ?? '',
      state: hash.state,
      kind: r.kind ?? '',
      account: r.account ?? '',
      strategy: r.strategy ?? '',
      symbol: r.symbol ?? '',
      side: r.side ?? '',
      qty: Number(r.qty ?? 0),
      price: Number(r.price ?? 0),
      openQty: Number(r.open_qty ?? 0),
      filledQty: Number(r.filled_qty ?? 0),
      closed: r.closed === '1',
    });
  }
  const fromJournal = exposureFromJournal(rows, 'acc-1');
  const drift = exposureMismatches(fromJournal, await reader.read('acc-1'));
  notes.push(
    `${rows.length} journal entries; hash vs journal sum: ${drift.length === 0 ? 'equal' : drift.join('; ')}`,
  );
  const diff = journalVersusVenue(rows, orders, 'acc-1');
  notes.push(`${diff.length} orders where journal and venue disagree: ${diff.slice(0, 8).join(' | ')}`);
  for (const g of cluster.gateways) {
    if (!g.running || g.paused) continue;
    const text = await fetch(`${g.opsUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.text())
      .catch(() => '');
    const lines = text.split('\n').filter((l) => l.startsWith('hft_gateway_executions_total{'));
    notes.push(
      `${g.id} executions: ${lines.map((l) => l.replace(/process_id="[^"]*",?|component="[^"]*",?/g, '')).join(' ')}`,
    );
  }
  // Does it settle later (a slow backlog) or never (reports lost)?
  const started = Date.now();
  for (;;) {
    const [venue, actual] = await Promise.all([cluster.venue.orders(), reader.read('acc-1')]);
    const left = exposureMismatches(exposureFromVenue(venue, [], 'acc-1', true).levels, actual).filter((m) =>
      m.startsWith('A:'),
    );
    if (left.length === 0) {
      notes.push(`account levels matched the venue ${Date.now() - started} ms after the check gave up`);
      break;
    }
    if (Date.now() - started > 60_000) {
      notes.push(`still differing 60 s after the check gave up: ${left.slice(0, 3).join('; ')}`);
      break;
    }
    await sleep(500);
  }
  return notes;
}

/**
 * Waits (bounded) until the exposure hash equals what the venue holds: execution reports and the periodic
 * journal reconciliation settle the last orders shortly after the workers stop. The invariant is that
 * they converge, not how fast: 30 s, because on a saturated machine the leader was seen still applying a
 * backlog of fills after 15 s (docs/ha.md); it returns as soon as they match.
 */
async function exposureAgainstVenue(
  cluster: Cluster,
  reader: ExposureReader,
  reports: readonly WorkerReport[],
): Promise<string[]> {
  let problems: string[] = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [orders, actual] = await Promise.all([cluster.venue.orders(), reader.read('acc-1')]);
    const expected = exposureFromVenue(orders, reports, 'acc-1');
    problems = [
      ...expected.unknownOrders.slice(0, 5).map((id) => `venue order ${id} submitted by no worker`),
      ...exposureMismatches(expected.levels, actual),
    ];
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await sleep(250);
  }
}

export async function runScenario(name: string, opts: ScenarioOptions): Promise<ScenarioSummary> {
  const body = SCENARIOS[name];
  if (!body) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const started = Date.now();
  const clusterOpts = CLUSTER_FOR[name]?.(opts.cluster) ?? opts.cluster;
  const cluster = await Cluster.start(clusterOpts);
  const run: Run = { cluster, failovers: [], takeovers: [], notes: [], violations: [], kills: 0, pauses: 0 };
  const exposure: LevelSample[] = [];
  const policyModes = new Set<string>();
  const reader = new ExposureReader(cluster.redis, cluster.keys);
  const sampler = setInterval(() => {
    reader.read('acc-1').then(
      (e) => exposure.push(...levelSamples(e)),
      () => undefined,
    );
    cluster.redis.hmget(cluster.keys.policy(), 'mode', 'reason', 'actor').then(
      ([mode, reason, actor]) => {
        const seen = mode && mode !== 'NORMAL' ? `${mode} (${reason ?? ''}, ${actor ?? ''})` : 'NORMAL';
        if (!policyModes.has(seen) && seen !== 'NORMAL') {
          // The decisions behind a trip, taken when it is first seen (a later kill resets a process's counters).
          for (const g of cluster.gateways) {
            if (g.running && !g.paused)
              void decisionCounts(g.opsUrl).then((c) => run.notes.push(`at ${seen}: ${g.id} decisions ${c}`));
          }
        }
        policyModes.add(seen);
      },
      () => undefined,
    );
  }, 100);
  try {
    await sleep(1_000);
    try {
      await body(run, opts);
    } catch (err) {
      // A scenario that cannot finish (no new leader, no dispatch) is a failure, reported like any other.
      run.violations.push(
        `scenario aborted: ${(err instanceof Error ? err.message : String(err)).slice(0, 3000)}`,
      );
    }
    await sleep(1_000);
    const reports = await cluster.finishWorkers();
    clearInterval(sampler);
    exposure.push(...levelSamples(await reader.read('acc-1')));
    const venueMismatch = await exposureAgainstVenue(cluster, reader, reports);
    const orders = await cluster.venue.orders();
    const inv = checkInvariants(orders, reports, exposure, clusterLimits(clusterOpts));
    const rejects: Record<string, number> = {};
    for (const r of reports)
      for (const [k, n] of Object.entries(r.stats.rejects)) rejects[k] = (rejects[k] ?? 0) + n;
    if (venueMismatch.length > 0) {
      run.violations.push(
        `exposure in Redis differs from the venue: ${venueMismatch.slice(0, 5).join('; ')}`,
      );
      run.notes.push(...(await explainMismatch(cluster, reader, orders, venueMismatch)));
    }
    if (PRESSES_LIMITS.has(name)) {
      const limitRejects = Object.entries(rejects).filter(([k]) => k.startsWith('EXPOSURE_'));
      if (limitRejects.length === 0)
        run.violations.push('no EXPOSURE_* reject: the limits were never pressed');
      const modes = [...policyModes].filter((m) => m !== 'NORMAL');
      if (modes.length > 0)
        run.violations.push(`policy left NORMAL (${modes.join(', ')}) while pressing limits`);
    }
    const events = await cluster.board.transitions();
    const samples = run.failovers.map((ms) => Math.round(ms));
    const activeSamples = run.takeovers.flatMap((t) => (t.activeMs === null ? [] : [t.activeMs]));
    return {
      scenario: name,
      ok: inv.violations.length === 0 && run.violations.length === 0,
      kills: run.kills,
      pauses: run.pauses,
      failoverMs: {
        p50: percentile(samples, 50),
        p99: percentile(samples, 99),
        max: percentile(samples, 100),
        samples,
      },
      takeovers: {
        viaBreak: run.takeovers.filter((t) => t.broke).length,
        viaExpiry: run.takeovers.filter((t) => !t.broke).length,
        activeMs: {
          p50: percentile(activeSamples, 50),
          p99: percentile(activeSamples, 99),
          max: percentile(activeSamples, 100),
        },
        samples: run.takeovers,
      },
      duplicates: inv.duplicates,
      duplicateAttempts: inv.duplicateAttempts,
      lost: inv.lost,
      unknown: inv.unknown,
      phantom: inv.phantom,
      staleEpochOrders: inv.staleEpochOrders,
      fencedAttempts: events.filter((e) => e.to === 'FENCED').length,
      maxExposure: inv.maxExposure,
      exposureLimit: inv.exposureLimit,
      exposurePeaks: inv.exposurePeaks,
      exposureMatchesVenue: venueMismatch.length === 0,
      rejects,
      policyModes: [...policyModes],
      accepted: inv.accepted,
      venueOrders: inv.venueOrders,
      durationMs: Date.now() - started,
      violations: [...inv.violations, ...run.violations],
      notes: run.notes,
    };
  } finally {
    clearInterval(sampler);
    await cluster.stop();
  }
}
