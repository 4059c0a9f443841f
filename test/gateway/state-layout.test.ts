import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { isGatewayError } from '../../src/errors.js';
import { Keyspace } from '../../src/keys.js';
import { STATE_LAYOUTS } from '../../src/redis/layout.js';
import { useRedisAndVenue } from '../harness/testbed.js';
import { gatewayConfig, startGateway } from './gateway-env.js';

// The state Redis records which journal layout it holds ({hft}:layout): the first gateway to activate
// writes its own, and a release that reads only older layouts refuses to start or to activate instead of
// misreading entries (runbooks/upgrade.md).

const bed = useRedisAndVenue();
const keys = new Keyspace('{hft}');
const mine = String(STATE_LAYOUTS.journal);
const newer = String(STATE_LAYOUTS.journal + 1);
let config: Readonly<Config>;
beforeAll(() => {
  config = gatewayConfig(bed.redis.url, bed.sim);
});

const stored = () => bed.r.hget(keys.layout(), 'journal');

describe('state layout guard', () => {
  it('records the journal layout when a gateway activates, not when a standby starts', async () => {
    const g = await startGateway(config, {}, 'warm');
    bed.cleanups.push(() => g.close());
    expect(await stored()).toBeNull();
    await g.gateway.activate(g.permit);
    expect(await stored()).toBe(mine);
  });

  it('raises an older recorded layout (this release still reads it)', async () => {
    await bed.r.hset(keys.layout(), 'journal', '1');
    const g = await startGateway(config);
    bed.cleanups.push(() => g.close());
    expect(g.gateway.state).toBe('ACTIVE');
    expect(await stored()).toBe(mine);
  });

  it('refuses to start against a newer layout, and leaves it as it is', async () => {
    await bed.r.hset(keys.layout(), 'journal', newer);
    // 'warm': created only, never activated, so this is the start-up check alone.
    const err = await startGateway(config, {}, 'warm').catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_STATE_LAYOUT_TOO_NEW')).toBe(true);
    expect(String((err as Error).message)).toMatch(/journal layout \d+; this release reads up to \d+/);
    expect(await stored()).toBe(newer);
  });

  it('refuses to activate once a newer release has written its layout, and stays STANDBY', async () => {
    const g = await startGateway(config, {}, 'warm');
    bed.cleanups.push(() => g.close());
    await bed.r.hset(keys.layout(), 'journal', newer);
    const err = await g.gateway.activate(g.permit).catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_STATE_LAYOUT_TOO_NEW')).toBe(true);
    expect(g.gateway.state).toBe('STANDBY');
    expect(await stored()).toBe(newer);
  });
});
