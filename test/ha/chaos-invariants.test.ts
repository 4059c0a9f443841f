import { describe, expect, it } from 'vitest';
import {
  type ExposureLimits,
  type JournalRow,
  exposureFromJournal,
  exposureFromVenue,
  exposureMismatches,
  journalVersusVenue,
  levelSamples,
} from '../../chaos/exposure-check.js';
import { checkInvariants, percentile } from '../../chaos/invariants.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import type { LevelExposure } from '../../src/exposure/exposure-reader.js';
import type { WorkerReport } from '../../chaos/strategy-worker.js';
import type { VenueOrderRecord } from '../../src/venue/protocol.js';

const tenEach: ExposureLimits = { symbolNotional: 10, strategyNotional: 10, accountNotional: 10 };

function order(clientOrderId: string, epoch: number, duplicateAttempts = 0): VenueOrderRecord {
  return {
    clientOrderId,
    venueOrderId: `v-${clientOrderId}`,
    account: 'acc-1',
    symbol: '2330',
    side: 'BUY',
    qty: 1,
    price: 1,
    tif: 'DAY',
    epoch,
    state: 'FILLED',
    rejectReason: null,
    filledQty: 1,
    fills: [],
    duplicateAttempts,
    duplicateEpochs: [],
    cancelEpoch: null,
    receivedTsNs: '0',
  };
}

function worker(accepted: string[], unknown = 0): WorkerReport {
  return {
    id: 'w',
    stats: {
      submitted: 0,
      accepted: 0,
      rejected: 0,
      unknown,
      retries: 0,
      inFlight: 0,
      ratePerSec: 0,
      p99Ms: 0,
      rejects: {},
    },
    outcomes: [
      ...accepted.map((id) => ({
        key: `k-${id}`,
        status: 'ACCEPTED' as const,
        reason: null,
        clientOrderId: id,
        epoch: 1,
      })),
      ...Array.from({ length: unknown }, (_, i) => ({
        key: `u-${i}`,
        status: 'UNKNOWN' as const,
        reason: 'timeout',
        clientOrderId: null,
        epoch: null,
      })),
    ],
  };
}

describe('chaos invariants', () => {
  it('passes a clean run and reports refused re-sends without calling them duplicates', () => {
    const report = checkInvariants(
      [order('a', 1), order('b', 2, 1)],
      [worker(['a', 'b'])],
      [{ level: 'A', buy: 5, sell: 0 }],
      tenEach,
    );
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({ duplicates: 0, duplicateAttempts: 1, lost: 0, accepted: 2 });
  });

  it('flags a client order id accepted twice, a lost acknowledgement, a stale epoch and an exposure breach', () => {
    const orders = [order('a', 1), order('b', 3), order('c', 2), order('a', 3)];
    const report = checkInvariants(
      orders,
      [worker(['a', 'b', 'c', 'z'], 2)],
      [{ level: 'A', buy: 11, sell: 0 }],
      tenEach,
    );
    expect(report).toMatchObject({
      duplicates: 1,
      lost: 1,
      staleEpochOrders: 1,
      unknown: 2,
      maxExposure: 11,
    });
    expect(report.violations).toHaveLength(4);
  });

  it('flags an intent answered REJECTED whose order is live at the venue, not a venue reject or an empty cancel', () => {
    const rejected = (key: string) => ({
      key,
      status: 'REJECTED' as const,
      reason: 'DEAD_LETTERED',
      clientOrderId: null,
      epoch: null,
    });
    const report = (state: VenueOrderRecord['state'], filledQty: number) =>
      checkInvariants(
        [{ ...order(deriveClientOrderId('k-x'), 1), state, filledQty }],
        [{ ...worker([]), outcomes: [rejected('k-x'), rejected('k-other')] }],
        [],
        tenEach,
      );
    expect(report('ACKED', 0)).toMatchObject({ phantom: 1 });
    expect(report('ACKED', 0).violations).toHaveLength(1);
    expect(report('CANCELED', 1)).toMatchObject({ phantom: 1 });
    expect(report('REJECTED', 0)).toMatchObject({ phantom: 0, violations: [] });
    expect(report('CANCELED', 0)).toMatchObject({ phantom: 0, violations: [] });
  });

  it('checks every level against its own limit, a per-symbol override included', () => {
    const limits: ExposureLimits = { ...tenEach, symbols: { '2330': 4 } };
    const samples = [
      { level: 'A', buy: 9, sell: 0 },
      { level: 'S|2330', buy: 5, sell: 0 },
      { level: 'S|2317', buy: 9, sell: 0 },
      { level: 'T|s1', buy: 0, sell: 10 },
    ];
    const report = checkInvariants([], [], samples, limits);
    expect(report.exposurePeaks).toEqual({
      A: { max: 9, limit: 10 },
      'S|2330': { max: 5, limit: 4 },
      'S|2317': { max: 9, limit: 10 },
      'T|s1': { max: 10, limit: 10 },
    });
    expect(report.violations).toEqual(['exposure S|2330 reached 5, above its limit 4']);
  });

  it('derives the exposure the venue implies and names every level where Redis differs', () => {
    const key = 'key-1';
    const coid = deriveClientOrderId(key);
    const filled: VenueOrderRecord = {
      ...order(coid, 1),
      side: 'BUY',
      qty: 3,
      price: 100,
      filledQty: 2,
      state: 'PARTIALLY_FILLED',
    };
    const reports: WorkerReport[] = [
      {
        ...worker([]),
        id: 's1',
        outcomes: [{ key, status: 'ACCEPTED', reason: null, clientOrderId: coid, epoch: 1 }],
      },
    ];
    const { levels, unknownOrders } = exposureFromVenue([filled, order('stranger', 1)], reports, 'acc-1');
    expect(unknownOrders).toEqual(['stranger']);
    const level: LevelExposure = { q: 2, fn: 200, rbq: 1, rb: 100, rsq: 0, rs: 0 };
    expect(levels.get('A')).toEqual(level);
    expect(levels.get('P|s1|2330')).toEqual(level);
    const exposure = (a: LevelExposure) => ({
      account: a,
      symbols: new Map([['2330', level]]),
      strategies: new Map([['s1', level]]),
      pairs: new Map([['s1|2330', level]]),
      trackedSymbols: 1,
      idleSymbols: 0,
    });
    expect(exposureMismatches(levels, exposure(level))).toEqual([]);
    expect(exposureMismatches(levels, exposure({ ...level, rb: 0 }))).toEqual(['A: rb redis 0 venue 100']);
    expect(levelSamples(exposure(level)).map((s) => s.level)).toEqual(['A', 'S|2330', 'T|s1']);
  });

  it('explains a mismatch order by order: a fill the journal has not applied, an order with no entry', () => {
    const row = (coid: string, filledQty: number, openQty: number): JournalRow => ({
      coid,
      state: 'DISPATCHED',
      kind: 'NEW',
      account: 'acc-1',
      strategy: 's1',
      symbol: '2330',
      side: 'BUY',
      qty: 1,
      price: 1,
      openQty,
      filledQty,
      closed: filledQty === 1,
    });
    const rows = [row('applied', 1, 0), row('late', 0, 1)];
    const venue = [order('applied', 1), order('late', 1), order('orphan', 1)];
    expect(journalVersusVenue(rows, venue, 'acc-1')).toEqual([
      'late: journal DISPATCHED s1 2330 BUY filled 0 open 1; venue FILLED 2330 BUY qty 1 filled 1 epoch 1 dup 0',
      'orphan: no journal entry; venue FILLED 2330 BUY filled 1',
    ]);
    const fromJournal = exposureFromJournal(rows, 'acc-1');
    expect(fromJournal.get('A')).toEqual({ q: 1, fn: 1, rbq: 1, rb: 1, rsq: 0, rs: 0 });
    expect(fromJournal.get('P|s1|2330')).toEqual({ q: 1, fn: 1, rbq: 1, rb: 1, rsq: 0, rs: 0 });
  });

  it('percentiles take the nearest rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile([5, 1, 3], 99)).toBe(5);
  });
});
