import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ExecutionReport } from '../../src/broker/adapter.js';
import { DEFAULT_FAULTS, FILL_MODES, type WireOrder } from '../../src/venue/protocol.js';
import { VenueBook } from '../../src/venue/venue-book.js';

const IDS = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6'];

const opArb = fc.oneof(
  fc.record({
    op: fc.constant('place' as const),
    id: fc.constantFrom(...IDS),
    qty: fc.integer({ min: -1, max: 9 }),
    epoch: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ op: fc.constant('cancel' as const), id: fc.constantFrom(...IDS, 'ZZ') }),
  fc.record({ op: fc.constant('query' as const), id: fc.constantFrom(...IDS, 'ZZ') }),
  fc.record({ op: fc.constant('mode' as const), mode: fc.constantFrom(...FILL_MODES) }),
);

function wire(id: string, qty: number, epoch: number): WireOrder {
  return { clientOrderId: id, account: 'a', symbol: 'S', side: 'SELL', qty, price: 100, tif: 'IOC', epoch };
}

describe('VenueBook (the venue state machine, without I/O)', () => {
  it('keeps the oracle invariants under any sequence of places, cancels, queries and fill modes', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 60 }),
        fc.integer({ min: 0, max: 400 }),
        (ops, rejectPerMille) => {
          const reports: ExecutionReport[] = [];
          const book = new VenueBook({
            seed: 5,
            maxOrders: 4,
            emit: (r) => reports.push(r),
            nowNs: () => '1',
            initialFaults: { ...DEFAULT_FAULTS, rejectPerMille },
          });
          const firstSeen = new Map<string, string>();
          let placeCalls = 0;
          for (const step of ops) {
            if (step.op === 'place') {
              placeCalls += 1;
              const result = book.place(wire(step.id, step.qty, step.epoch));
              const before = firstSeen.get(step.id);
              if (before !== undefined) {
                expect(result.rejectReason).toBe('DUPLICATE_CLIENT_ORDER_ID');
              } else if (result.rejectReason !== 'VENUE_CAPACITY') {
                firstSeen.set(step.id, result.state);
              }
              if (result.state === 'ACKED') book.fillAfterAck(step.id);
            } else if (step.op === 'cancel') {
              book.cancel(step.id, 1);
            } else if (step.op === 'query') {
              const status = book.query(step.id);
              expect(status === null).toBe(!firstSeen.has(step.id));
            } else {
              book.setFaults({ ...book.currentFaults(), fillMode: step.mode });
            }
          }
          const log = book.orderLog();
          const counters = book.counts;
          // One log entry per client order id, and only ids the venue took in.
          expect(new Set(log.map((o) => o.clientOrderId)).size).toBe(log.length);
          expect(log.map((o) => o.clientOrderId).sort()).toEqual([...firstSeen.keys()].sort());
          expect(counters.placeRequests).toBe(placeCalls);
          expect(counters.accepted).toBe(log.filter((o) => o.venueOrderId !== null).length);
          expect(counters.duplicateAttempts).toBe(log.reduce((sum, o) => sum + o.duplicateAttempts, 0));
          for (const o of log) {
            expect(o.filledQty).toBeLessThanOrEqual(Math.max(o.qty, 0));
            expect(o.fills.reduce((sum, f) => sum + f.qty, 0)).toBe(o.filledQty);
            if (o.state === 'FILLED') expect(o.filledQty).toBe(o.qty);
            if (o.state === 'REJECTED') expect(o.filledQty).toBe(0);
          }
          // Reports agree with the log: the last report per order carries its cumulative fill.
          const lastReport = new Map(reports.map((r) => [r.clientOrderId, r]));
          for (const [id, r] of lastReport) {
            expect(r.cumQty).toBe(log.find((o) => o.clientOrderId === id)?.filledQty);
          }
          expect(counters.fills).toBe(reports.filter((r) => r.lastQty > 0).length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stops taking new orders at maxOrders with VENUE_CAPACITY, still refusing duplicates', () => {
    const book = new VenueBook({ seed: 1, maxOrders: 2, emit: () => {}, nowNs: () => '1' });
    expect(book.place(wire('A1', 1, 1)).state).toBe('ACKED');
    expect(book.place(wire('A2', 1, 1)).state).toBe('ACKED');
    expect(book.place(wire('A3', 1, 1)).rejectReason).toBe('VENUE_CAPACITY');
    expect(book.place(wire('A1', 1, 1)).rejectReason).toBe('DUPLICATE_CLIENT_ORDER_ID');
    expect(book.orderLog()).toHaveLength(2);
  });
});
