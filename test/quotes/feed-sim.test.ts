import { describe, expect, it } from 'vitest';
import { FeedSimulator } from '../../src/quotes/feed-sim.js';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';
import { spawnTs, waitFor } from '../harness/process.js';

const SYMBOLS = ['2330', '2317', 'TXFL6'];
const strict = new QuoteValidator({ maxPayloadBytes: 8_192, acceptVersions: [], acceptUnknownFields: false });

async function sim(seed: number, options: Partial<ConstructorParameters<typeof FeedSimulator>[0]> = {}) {
  const feed = new FeedSimulator({ seed, ...options });
  await feed.subscribe(SYMBOLS, ['tick', 'bidask']);
  return feed;
}

describe('feed simulator', () => {
  it('is deterministic per seed and differs across seeds', async () => {
    const a = (await sim(42)).generate(500);
    const b = (await sim(42)).generate(500);
    const c = (await sim(43)).generate(500);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });

  it('produces only strict-v1 quotes of every kind, on the right topic, with prices on the tick grid', async () => {
    const quotes = (await sim(7)).generate(10_000);
    const kinds = new Map<string, number>();
    for (const q of quotes) {
      const v = strict.validate(q.payload, q.topic, '0', 0);
      if (!v.ok) throw new Error(`${v.reason} ${v.field} ${v.detail}: ${q.payload}`);
      kinds.set(v.quote.kind, (kinds.get(v.quote.kind) ?? 0) + 1);
      expect(v.quote.code).toBe(SYMBOLS[q.symbolId]);
      if (v.quote.kind !== 'stock_bidask') {
        const { close, low, high } = v.quote.fields as { close: number; low: number; high: number };
        expect(low <= close && close <= high).toBe(true);
      }
    }
    expect([...kinds.keys()].sort()).toEqual(['fop_tick', 'stock_bidask', 'stock_tick']);
  });

  it('starts at a given reference price and keeps every trade inside the daily limit band around it', async () => {
    const feed = await sim(3, { referencePrices: { '2330': 5_805_000 }, limitBps: 300 });
    const closes = feed
      .generate(30_000)
      .filter((q) => q.topic === 'tick' && q.symbolId === 0)
      .map((q) => strict.validate(q.payload, 'tick', '0', 0))
      .map((v) => (v.ok ? (v.quote.fields as { close: number }).close : Number.NaN));
    // 580.5 snaps down to the 1.00 grid of the 500–1000 band: reference 580, band ±3 % = ±17 ticks.
    expect(closes.length).toBeGreaterThan(2_000);
    expect(Math.min(...closes)).toBeGreaterThanOrEqual(5_800_000 - 170_000);
    expect(Math.max(...closes)).toBeLessThanOrEqual(5_800_000 + 170_000);
    // The walk does reach the band (it is a bound, not an unused setting).
    expect(closes.some((c) => c === 5_800_000 + 170_000 || c === 5_800_000 - 170_000)).toBe(true);
  });

  it('when started, delivers a stream with bursts (one synchronous run each) through the callbacks until stopped', async () => {
    // The steady rate's catch-up after a stalled timer is capped at ratePerSec (200) per timer turn, so a
    // run of 500 or more in one macrotask can only be a burst. Bursts 200 ms apart: with a 20 ms period a
    // loaded machine whose 1 ms timer fired only every 20 ms or more made every run a burst, and the
    // test waited for a steady-rate run that never came.
    const feed = await sim(9, { ratePerSec: 200, burstEveryMs: 200, burstSize: 500 });
    let delivered = 0;
    let run = 0;
    const runs: number[] = [];
    const count = () => {
      delivered++;
      // The microtask runs when the simulator's timer callback returns: it sees that macrotask's whole run.
      if (run++ === 0) {
        queueMicrotask(() => {
          runs.push(run);
          run = 0;
        });
      }
    };
    feed.onTick(count);
    feed.onBidAsk(count);
    feed.start();
    const steadyRun = () => runs.some((r) => r < 500);
    await waitFor(
      'three bursts and a steady run',
      async () => runs.filter((r) => r >= 500).length >= 3 && steadyRun(),
      {
        timeoutMs: 30_000,
        intervalMs: 5,
      },
    );
    feed.stop();
    expect(Math.max(...runs)).toBeLessThanOrEqual(500 + 200);
    expect(steadyRun()).toBe(true);
    const after = delivered;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(delivered).toBe(after);
  });

  it('runs as a process writing <topic>\\t<symbolId>\\t<json> lines, the same stream as in-process', async () => {
    const child = spawnTs('src/quotes/feed-sim.ts', [
      '--seed=5',
      `--symbols=${SYMBOLS.join(',')}`,
      '--count=80',
    ]);
    expect(await child.exited()).toBe(0);
    const lines = child
      .output()
      .split('\n')
      .filter((l) => /^(tick|bidask)\t/.test(l));
    const expected = (await sim(5)).generate(80).map((q) => `${q.topic}\t${q.symbolId}\t${q.payload}`);
    expect(lines).toEqual(expected);
  });
});
