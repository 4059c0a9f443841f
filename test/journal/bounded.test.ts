import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { GatewayError, isGatewayError } from '../../src/errors.js';
import { forEachBounded } from '../../src/journal/bounded.js';

describe('forEachBounded', () => {
  it('never has more than `concurrency` calls in flight, and makes every call', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachBounded(
      Array.from({ length: 50 }, (_, i) => i),
      4,
      async (i) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        for (let k = 0; k < (i % 3) + 1; k++) await tick();
        inFlight -= 1;
        done.push(i);
      },
    );
    expect(peak).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('FENCED stops the run: nothing further starts, calls in flight settle first, then it rejects FENCED', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const run = forEachBounded(
      Array.from({ length: 100 }, (_, i) => i),
      8,
      async (i) => {
        started.push(i);
        await tick();
        if (i === 10) throw new GatewayError('GW_ERR_FENCED', 'epoch 1 < 2');
        await tick();
        settled.push(i);
      },
    );
    const err = await run.catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_FENCED')).toBe(true);
    // Items 0..7 start together; each finished worker takes the next, so at most 10 + 7 ever start.
    expect(Math.max(...started)).toBeLessThan(18);
    expect(started.length).toBeLessThan(100);
    // Every started call other than the fenced one had settled before the run rejected.
    expect(settled.sort((a, b) => a - b)).toEqual(started.filter((i) => i !== 10).sort((a, b) => a - b));
  });

  it('FENCED wins over another error thrown in the same run', async () => {
    const err = await forEachBounded([0, 1], 2, async (i) => {
      if (i === 0) throw new Error('venue down');
      await tick();
      throw new GatewayError('GW_ERR_FENCED', 'epoch 1 < 2');
    }).catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_FENCED')).toBe(true);
  });

  it('stop() ends the run early without an error', async () => {
    const started: number[] = [];
    await forEachBounded(
      Array.from({ length: 20 }, (_, i) => i),
      2,
      async (i) => {
        started.push(i);
        await tick();
      },
      () => started.length >= 5,
    );
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });
});
