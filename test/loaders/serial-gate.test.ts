import { describe, expect, it } from 'vitest';
import { SerialGate } from '../../loaders/serial-gate.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('SerialGate', () => {
  it('runs tasks one at a time, in the order they were handed in', async () => {
    const gate = new SerialGate();
    const events: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, ticks: number) => async () => {
      running += 1;
      most = Math.max(most, running);
      events.push(`start ${name}`);
      for (let i = 0; i < ticks; i += 1) await tick();
      events.push(`end ${name}`);
      running -= 1;
      return name;
    };
    const results = await Promise.all([
      gate.run(task('a', 3)),
      gate.run(task('b', 1)),
      gate.run(task('c', 2)),
    ]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it("gives a task's failure to its caller only; the next task still runs", async () => {
    const gate = new SerialGate();
    const failed = gate.run(async () => {
      await tick();
      throw new Error('pass 1 failed');
    });
    const next = gate.run(async () => 'next ran');
    await expect(failed).rejects.toThrow('pass 1 failed');
    await expect(next).resolves.toBe('next ran');
  });
});
