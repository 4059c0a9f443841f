import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerOrder, ExecutionReport } from '../../src/broker/adapter.js';
import { TcpBroker, type TcpBrokerOptions } from '../../src/broker/tcp-broker.js';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { isGatewayError } from '../../src/errors.js';
import { waitFor } from '../harness/process.js';
import { VenueSim } from '../harness/venue-sim.js';

let sim: VenueSim;
const brokers: TcpBroker[] = [];
let seq = 0;

beforeAll(async () => {
  sim = await VenueSim.start({ fillMode: 'immediate' });
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(async () => {
  await sim.reset();
});
afterEach(async () => {
  while (brokers.length) await brokers.pop()?.close();
});

async function broker(overrides: Partial<TcpBrokerOptions> = {}): Promise<TcpBroker> {
  const b = await TcpBroker.connect(sim.brokerOptions(overrides));
  brokers.push(b);
  return b;
}

function order(overrides: Partial<BrokerOrder> = {}): BrokerOrder {
  seq += 1;
  return {
    clientOrderId: deriveClientOrderId(`${seq}`.padStart(64, '0')),
    account: 'acc-1',
    symbol: 'AAPL',
    side: 'BUY',
    qty: 10,
    price: 1_000_000,
    tif: 'DAY',
    epoch: 1,
    ...overrides,
  };
}

function collect(b: TcpBroker): ExecutionReport[] {
  const reports: ExecutionReport[] = [];
  b.onExecutionReport((r) => reports.push(r));
  return reports;
}

async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  try {
    return await promise;
  } catch (err) {
    if (isGatewayError(err)) return err.code;
    throw err;
  }
}

describe('venue-sim through TcpBroker', () => {
  it('acks a new order and fills it immediately, with the fill pushed as an execution report', async () => {
    const b = await broker();
    const reports = collect(b);
    const o = order({ qty: 7, price: 1_234_500 });
    const result = await b.place(o);
    expect(result).toMatchObject({ clientOrderId: o.clientOrderId, state: 'ACKED', rejectReason: null });
    expect(result.venueOrderId).toMatch(/^V\d+$/);
    await waitFor('fill report', async () => reports.length === 1);
    expect(reports[0]).toMatchObject({
      clientOrderId: o.clientOrderId,
      state: 'FILLED',
      lastQty: 7,
      lastPrice: 1_234_500,
      cumQty: 7,
    });
    expect(await b.queryByClientOrderId(o.clientOrderId)).toEqual({
      clientOrderId: o.clientOrderId,
      state: 'FILLED',
      filledQty: 7,
      epoch: 1,
    });
    const [logged] = await sim.orders();
    expect(logged).toMatchObject({ clientOrderId: o.clientOrderId, state: 'FILLED', filledQty: 7, epoch: 1 });
    expect(logged?.fills).toHaveLength(1);
  });

  it('leaves orders resting in fill mode none, and cancels them', async () => {
    await sim.setFaults({ fillMode: 'none' });
    const b = await broker();
    const reports = collect(b);
    const o = order();
    expect((await b.place(o)).state).toBe('ACKED');
    expect(await b.queryByClientOrderId(o.clientOrderId)).toMatchObject({ state: 'ACKED', filledQty: 0 });
    expect(await b.cancel(o.clientOrderId, 1)).toMatchObject({ state: 'CANCELED', rejectReason: null });
    await waitFor('cancel report', async () => reports.length === 1);
    expect(reports[0]).toMatchObject({ state: 'CANCELED', lastQty: 0, cumQty: 0 });
    expect(await sim.order(o.clientOrderId)).toMatchObject({ state: 'CANCELED', cancelEpoch: 1 });
  });

  it('fills half in partial mode, and a cancel closes the rest with the filled quantity kept', async () => {
    await sim.setFaults({ fillMode: 'partial' });
    const b = await broker();
    const reports = collect(b);
    const o = order({ qty: 9 });
    await b.place(o);
    await waitFor('partial fill', async () => reports.length === 1);
    expect(reports[0]).toMatchObject({ state: 'PARTIALLY_FILLED', lastQty: 5, cumQty: 5 });
    expect(await b.cancel(o.clientOrderId, 2)).toMatchObject({ state: 'CANCELED' });
    await waitFor('cancel report', async () => reports.length === 2);
    expect(reports[1]).toMatchObject({ state: 'CANCELED', cumQty: 5 });
    const one = order({ qty: 1 });
    await b.place(one);
    await waitFor('full fill of qty 1', async () => reports.length === 3);
    expect(reports[2]).toMatchObject({ state: 'FILLED', cumQty: 1 });
  });

  it('refuses a duplicate client order id every time and counts each attempt, across connections', async () => {
    const a = await broker();
    const b = await broker();
    const o = order();
    expect((await a.place(o)).state).toBe('ACKED');
    const again = await Promise.all([a.place({ ...o, epoch: 2 }), b.place({ ...o, epoch: 3 }), b.place(o)]);
    for (const r of again) {
      expect(r).toMatchObject({
        state: 'REJECTED',
        rejectReason: 'DUPLICATE_CLIENT_ORDER_ID',
        venueOrderId: null,
      });
    }
    const orders = await sim.orders();
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ duplicateAttempts: 3, epoch: 1, state: 'FILLED', filledQty: 10 });
    expect([...(orders[0]?.duplicateEpochs ?? [])].sort()).toEqual([1, 2, 3]);
    expect(await sim.counters()).toMatchObject({
      accepted: 1,
      duplicateAttempts: 3,
      rejects: 3,
      placeRequests: 4,
    });
  });

  it('accepts exactly one of many concurrent places of the same id', async () => {
    const conns = await Promise.all([broker(), broker(), broker()]);
    const o = order();
    const results = await Promise.all(conns.flatMap((c) => Array.from({ length: 20 }, () => c.place(o))));
    expect(results.filter((r) => r.state === 'ACKED')).toHaveLength(1);
    expect(await sim.counters()).toMatchObject({ accepted: 1, duplicateAttempts: 59 });
  });

  it('answers null for an id it never saw, and rejects a cancel of one', async () => {
    const b = await broker();
    const unknown = order().clientOrderId;
    expect(await b.queryByClientOrderId(unknown)).toBeNull();
    expect(await b.cancel(unknown, 1)).toMatchObject({ state: 'REJECTED', rejectReason: 'UNKNOWN_ORDER' });
  });

  it('rejects a cancel of an order that is no longer open', async () => {
    const b = await broker();
    const o = order();
    await b.place(o);
    expect(await b.cancel(o.clientOrderId, 1)).toMatchObject({
      state: 'FILLED',
      rejectReason: 'ORDER_NOT_OPEN',
    });
    expect(await sim.counters()).toMatchObject({ cancelRejects: 1, canceled: 0 });
  });

  it('rejects an invalid order and logs it as REJECTED', async () => {
    const b = await broker();
    const o = order({ qty: 0 });
    expect(await b.place(o)).toMatchObject({ state: 'REJECTED', rejectReason: 'INVALID_ORDER' });
    expect(await sim.order(o.clientOrderId)).toMatchObject({
      state: 'REJECTED',
      rejectReason: 'INVALID_ORDER',
    });
  });

  it('rejects by the configured venue reject rate (all of them at 1000 per mille)', async () => {
    await sim.setFaults({ rejectPerMille: 1_000 });
    const b = await broker();
    const o = order();
    expect(await b.place(o)).toMatchObject({ state: 'REJECTED', rejectReason: 'VENUE_REJECT' });
    expect(await b.queryByClientOrderId(o.clientOrderId)).toMatchObject({ state: 'REJECTED' });
  });

  it('pipelines many requests on one connection and matches every answer to its request', async () => {
    await sim.setFaults({ fillMode: 'none' });
    const b = await broker();
    const orders = Array.from({ length: 2_000 }, () => order());
    const results = await Promise.all(orders.map((o) => b.place(o)));
    expect(results.map((r) => r.clientOrderId)).toEqual(orders.map((o) => o.clientOrderId));
    expect(await sim.counters()).toMatchObject({ accepted: 2_000 });
  });

  it('pushes execution reports to every open order connection', async () => {
    const a = await broker();
    const b = await broker();
    const ra = collect(a);
    const rb = collect(b);
    await a.place(order());
    await waitFor('report on both connections', async () => ra.length === 1 && rb.length === 1);
    expect(rb[0]).toEqual(ra[0]);
  });

  it('greets each connection, counts malformed lines and keeps the connection usable', async () => {
    const socket = connect({ host: sim.host, port: sim.orderPort });
    try {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      const lines = () =>
        text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      await waitFor('hello', async () => lines().length === 1);
      expect(lines()[0]).toEqual({ t: 'hello', protocol: 1 });
      socket.write('not json\n{"t":"place","id":5}\n{"t":"query","id":6,"clientOrderId":"NOPE"}\n');
      await waitFor('two answers', async () => lines().length === 3);
      expect(lines().slice(1)).toEqual([
        expect.objectContaining({ id: 5, ok: false, error: 'BAD_REQUEST' }),
        { t: 'res', id: 6, ok: true, result: null },
      ]);
      expect((await sim.counters()).badRequests).toBe(2);
    } finally {
      socket.destroy();
    }
  });

  it('reset clears the order log and counters and restores start-up faults', async () => {
    const b = await broker();
    await sim.setFaults({ fillMode: 'none', latencyMs: 5 });
    await b.place(order());
    await sim.reset();
    expect(await sim.orders()).toEqual([]);
    await waitFor(
      'earlier test connections closed',
      async () => (await sim.counters()).openConnections === 1,
    );
    expect(await sim.counters()).toMatchObject({ accepted: 0, placeRequests: 0, openConnections: 1 });
    expect(await sim.faults()).toMatchObject({ fillMode: 'immediate', latencyMs: 0 });
  });

  it('refuses an invalid fault patch', async () => {
    await expect(sim.setFaults({ errorPerMille: 1_001 })).rejects.toThrow(/400/);
    await expect(sim.setFaults({ latencyMs: 1.5 })).rejects.toThrow(/400/);
  });
});

describe('fault injection and the adapter error mapping', () => {
  it('maps an injected venue error to GW_ERR_BROKER_UNAVAILABLE, and the venue did nothing', async () => {
    await sim.setFaults({ errorPerMille: 1_000 });
    const b = await broker();
    const o = order();
    expect(await outcome(b.place(o))).toBe('GW_ERR_BROKER_UNAVAILABLE');
    await sim.setFaults({ errorPerMille: 0 });
    expect(await b.queryByClientOrderId(o.clientOrderId)).toBeNull();
    expect(await sim.counters()).toMatchObject({ injectedErrors: 1, placeRequests: 0 });
  });

  it('injects errors at the seeded rate: unavailable orders never reach the log, answered ones always do', async () => {
    await sim.setFaults({ errorPerMille: 300, seed: 42 });
    const b = await broker();
    const orders = Array.from({ length: 400 }, () => order());
    const outcomes = await Promise.all(orders.map((o) => outcome(b.place(o))));
    const logged = new Set((await sim.orders()).map((o) => o.clientOrderId));
    const failed = outcomes.filter((x) => x === 'GW_ERR_BROKER_UNAVAILABLE').length;
    expect(orders.map((o) => logged.has(o.clientOrderId))).toEqual(
      outcomes.map((x) => x !== 'GW_ERR_BROKER_UNAVAILABLE'),
    );
    expect(failed).toBe((await sim.counters()).injectedErrors);
    // 300 per mille of 400 draws from a seeded PRNG: some fail and most succeed (not a timing assertion).
    expect(failed).toBeGreaterThan(40);
    expect(failed).toBeLessThan(200);
  });

  it('maps an unanswered request to GW_ERR_BROKER_TIMEOUT; the order is found by id afterwards', async () => {
    await sim.setFaults({ dropReplyPerMille: 1_000 });
    const b = await broker({ requestTimeoutMs: 100 });
    const o = order();
    expect(await outcome(b.place(o))).toBe('GW_ERR_BROKER_TIMEOUT');
    await sim.setFaults({ dropReplyPerMille: 0 });
    expect(await b.queryByClientOrderId(o.clientOrderId)).toMatchObject({ state: 'FILLED' });
    // Reconciliation is by id; a blind resend would be refused as a duplicate by the venue.
    expect(await b.place(o)).toMatchObject({ rejectReason: 'DUPLICATE_CLIENT_ORDER_ID' });
  });

  it('times out requests slower than the request timeout, and recovers when latency goes away', async () => {
    await sim.setFaults({ latencyMs: 1_000 });
    const b = await broker({ requestTimeoutMs: 100 });
    const o = order();
    expect(await outcome(b.place(o))).toBe('GW_ERR_BROKER_TIMEOUT');
    await sim.setFaults({ latencyMs: 0 });
    // The slow place was processed by the venue after all: the outcome really was unknown.
    await waitFor('slow order processed', async () => (await sim.order(o.clientOrderId)) !== undefined);
    await waitFor('late answer ignored', async () => b.lateAnswerCount === 1);
    expect((await b.place(order())).state).toBe('ACKED');
  });

  it('delays answers by the injected latency without reordering them', async () => {
    await sim.setFaults({ latencyMs: 50, fillMode: 'none' });
    const b = await broker();
    const orders = Array.from({ length: 50 }, () => order());
    const results = await Promise.all(orders.map((o) => b.place(o)));
    expect(results.every((r) => r.state === 'ACKED')).toBe(true);
    expect((await sim.orders()).map((o) => o.clientOrderId)).toEqual(orders.map((o) => o.clientOrderId));
  });

  it('refuses requests beyond the in-flight window without sending them', async () => {
    await sim.setFaults({ latencyMs: 200 });
    const b = await broker({ maxInFlight: 5 });
    const orders = Array.from({ length: 8 }, () => order());
    const outcomes = await Promise.all(orders.map((o) => outcome(b.place(o))));
    expect(outcomes.filter((x) => x === 'GW_ERR_BROKER_UNAVAILABLE')).toHaveLength(3);
    const logged = new Set((await sim.orders()).map((o) => o.clientOrderId));
    expect(orders.slice(5).some((o) => logged.has(o.clientOrderId))).toBe(false);
    expect(logged.size).toBe(5);
  });

  it('outage closes the connection: in-flight → TIMEOUT, new requests → UNAVAILABLE, reconnects after', async () => {
    await sim.setFaults({ latencyMs: 300 });
    const b = await broker({ requestTimeoutMs: 10_000 });
    const states: boolean[] = [];
    b.onConnectionChange((up) => states.push(up));
    const inFlight = outcome(b.place(order()));
    await waitFor('request in flight', async () => b.inFlight === 1);
    await sim.setFaults({ outage: true });
    expect(await inFlight).toBe('GW_ERR_BROKER_TIMEOUT');
    await waitFor('disconnect seen', async () => !b.connected);
    const o = order();
    expect(await outcome(b.place(o))).toBe('GW_ERR_BROKER_UNAVAILABLE');
    await waitFor('reconnect attempts refused', async () => (await sim.counters()).connectionsRefused >= 2);
    await sim.setFaults({ outage: false, latencyMs: 0 });
    await b.waitConnected(10_000);
    expect((await b.place(o)).state).toBe('ACKED');
    expect(states).toEqual([true, false, true]); // current state at subscription, then each change
  });

  it('survives a venue crash and restart on the same port', async () => {
    const local = await VenueSim.start({ fillMode: 'none', latencyMs: 500 });
    const b = await TcpBroker.connect(local.brokerOptions({ requestTimeoutMs: 10_000 }));
    brokers.push(b);
    try {
      const inFlight = outcome(b.place(order()));
      await waitFor('request in flight', async () => b.inFlight === 1);
      await local.kill();
      expect(await inFlight).toBe('GW_ERR_BROKER_TIMEOUT');
      expect(await outcome(b.place(order()))).toBe('GW_ERR_BROKER_UNAVAILABLE');
      await local.restart();
      await local.setFaults({ latencyMs: 0 });
      await b.waitConnected(10_000);
      expect((await b.place(order())).state).toBe('ACKED');
    } finally {
      await local.stop();
    }
  });

  it('fails connect() with GW_ERR_BROKER_UNAVAILABLE when nothing listens', async () => {
    const err = await TcpBroker.connect({ ...sim.brokerOptions(), port: 1, connectTimeoutMs: 200 }).catch(
      (e) => e,
    );
    expect(isGatewayError(err, 'GW_ERR_BROKER_UNAVAILABLE')).toBe(true);
  });

  it('rejects requests after close() without sending them', async () => {
    const b = await broker();
    await b.close();
    expect(await outcome(b.place(order()))).toBe('GW_ERR_BROKER_UNAVAILABLE');
    expect((await sim.counters()).placeRequests).toBe(0);
  });
});
