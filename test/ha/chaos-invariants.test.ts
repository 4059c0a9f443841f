import { describe, expect, it } from 'vitest';
import { checkInvariants, percentile } from '../../chaos/invariants.js';
import type { WorkerReport } from '../../chaos/strategy-worker.js';
import type { VenueOrderRecord } from '../../src/venue/protocol.js';

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
      [{ buy: 5, sell: 0 }],
      10,
    );
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({ duplicates: 0, duplicateAttempts: 1, lost: 0, accepted: 2 });
  });

  it('flags a client order id accepted twice, a lost acknowledgement, a stale epoch and an exposure breach', () => {
    const orders = [order('a', 1), order('b', 3), order('c', 2), order('a', 3)];
    const report = checkInvariants(orders, [worker(['a', 'b', 'c', 'z'], 2)], [{ buy: 11, sell: 0 }], 10);
    expect(report).toMatchObject({
      duplicates: 1,
      lost: 1,
      staleEpochOrders: 1,
      unknown: 2,
      maxExposure: 11,
    });
    expect(report.violations).toHaveLength(4);
  });

  it('percentiles take the nearest rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile([5, 1, 3], 99)).toBe(5);
  });
});
