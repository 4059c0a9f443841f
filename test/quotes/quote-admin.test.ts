import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { OpsServer } from '../../src/ops/server.js';
import { registerQuoteAdmin } from '../../src/quotes/quote-admin.js';
import { startRig, stockTick } from './quote-fixtures.js';

const TOKEN = 'quote-admin-token';

/** An ingress under `halt` whose worker never runs, so 16 slots fill and the 17th push halts it. */
async function haltedIngress() {
  const rig = await startRig(
    { queueCapacity: 16, overflowPolicy: 'halt', symbols: ['2330'] },
    { manual: true },
  );
  for (let i = 0; i < 17; i++) rig.feed.tick(stockTick(), 0);
  const ops = new OpsServer({
    registry: rig.registry,
    logger: rig.sink.logger,
    adminToken: TOKEN,
    readiness: () => ({ ready: true, detail: {} }),
  });
  registerQuoteAdmin(ops, rig.ingress);
  const call = (method: 'GET' | 'POST', url: string, token = TOKEN, payload?: object) =>
    ops.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  return { ...rig, ops, call };
}

describe('quote ingress admin routes', () => {
  it('shows the halt and lifts it on POST /admin/quotes/resume, logged with the reason', async () => {
    const t = await haltedIngress();
    const status = await t.call('GET', '/admin/quotes/status');
    expect(status.statusCode).toBe(200);
    expect(status.json()).toEqual({
      halted: true,
      overflow_policy: 'halt',
      queue_depth: 16,
      queue_capacity: 16,
      dropped_tick: 1,
      dropped_bidask: 0,
    });
    // Halted: a push is refused even once the worker has drained the queue.
    t.scheduler?.runAll();
    t.feed.tick(stockTick(), 0);
    expect(t.ingress.ring.depth).toBe(0);

    const resumed = await t.call('POST', '/admin/quotes/resume', TOKEN, { reason: 'INC-12: WAL disk freed' });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ resumed: true, halted: false, dropped_tick: 2 });
    expect(t.sink.lines.find((l) => l.event === 'quote_queue_resumed')).toMatchObject({
      reason: 'INC-12: WAL disk freed',
    });
    t.feed.tick(stockTick(), 0);
    expect(t.ingress.ring.depth).toBe(1);

    const again = await t.call('POST', '/admin/quotes/resume');
    expect(again.json()).toMatchObject({ resumed: false, halted: false });
  });

  it('refuses without the bearer token and leaves the ingress halted', async () => {
    const t = await haltedIngress();
    const res = await t.call('POST', '/admin/quotes/resume', 'wrong-token');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'GW_ERR_UNAUTHORIZED' });
    expect(t.ingress.ring.halted).toBe(true);
  });

  it("shows each subscribed symbol's reference price and age on GET /admin/quotes/references", async () => {
    let mono = 1_000;
    const clock = { ...systemClock, monoMs: () => mono };
    const rig = await startRig({ symbols: ['2330', '2317'] }, { manual: true, clock });
    const ops = new OpsServer({
      registry: rig.registry,
      logger: rig.sink.logger,
      adminToken: TOKEN,
      readiness: () => ({ ready: true, detail: {} }),
    });
    registerQuoteAdmin(ops, rig.ingress);
    const get = () =>
      ops.app.inject({
        method: 'GET',
        url: '/admin/quotes/references',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
    expect((await get()).json()).toEqual({ '2330': null, '2317': null });
    rig.feed.tick(stockTick(), 0);
    rig.scheduler?.runAll();
    mono += 250;
    expect((await get()).json()).toEqual({ '2330': { price: 5_865_000, age_ms: 250 }, '2317': null });
  });
});
