import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseVenueArgs } from '../../src/venue/config.js';
import { spawnTs } from '../harness/process.js';
import { VenueSim } from '../harness/venue-sim.js';

const MAIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'venue', 'main.ts');

describe('venue-sim process', () => {
  it('parses its flags strictly', () => {
    expect(parseVenueArgs(['--order-port', '0', '--fill-mode', 'partial', '--seed', '9'])).toMatchObject({
      orderPort: 0,
      fillMode: 'partial',
      seed: 9,
      host: '127.0.0.1',
    });
    expect(() => parseVenueArgs(['--bogus', '1'])).toThrow();
    expect(() => parseVenueArgs(['--fill-mode'])).toThrow();
    expect(() => parseVenueArgs(['--fill-mode', 'sometimes'])).toThrow();
  });

  it('refuses to listen on anything but loopback', async () => {
    const proc = spawnTs(MAIN, ['--host', '0.0.0.0']);
    expect(await proc.exited()).toBe(1);
    expect(proc.output()).toMatch(/venue-sim failed to start/);
  });

  it('exits cleanly on SIGTERM after printing its ports', async () => {
    const sim = await VenueSim.start();
    expect(sim.orderPort).toBeGreaterThan(0);
    expect(sim.httpPort).toBeGreaterThan(0);
    const line = sim
      .output()
      .split('\n')
      .find((l) => l.includes('venue-sim.listening'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ event: 'venue-sim.listening', pid: sim.pid });
    await sim.stop();
    expect(sim.running).toBe(false);
  });
});
