import { describe, expect, it } from 'vitest';
import { haSection } from '../../ha/config.js';
import { loadConfig } from '../../src/config/load.js';

describe('ha config section', () => {
  it('defaults to a 1 s lease whose renewal fits inside the self-fencing margin', () => {
    const ha = loadConfig({}).ha;
    expect(ha).toMatchObject({ enabled: false, ttlMs: 1_000, safetyMarginMs: 250 });
    expect(ha.renewIntervalMs + ha.nodeTimeoutMs).toBeLessThan(ha.ttlMs - ha.safetyMarginMs);
  });

  it('reads lease nodes and timings from HFT__HA__ env vars', () => {
    const ha = loadConfig({
      env: { HFT__HA__ENABLED: 'true', HFT__HA__LEASE_NODES: '["redis://a:1","redis://b:2","redis://c:3"]' },
    }).ha;
    expect(ha.enabled).toBe(true);
    expect(ha.leaseNodes).toHaveLength(3);
  });

  it.each([
    [{ leaseNodes: ['redis://a:1', 'redis://b:2'] }, 'odd number'],
    [{ leaseNodes: ['redis://a:1', 'redis://a:1', 'redis://b:2'] }, 'distinct'],
    [{ leaseNodes: ['http://a:1'] }, 'redis://'],
    [{ ttlMs: 500, renewIntervalMs: 300 }, 'renewIntervalMs + nodeTimeoutMs'],
    [{ safetyMarginMs: 50, nodeTimeoutMs: 100 }, 'safetyMarginMs must exceed nodeTimeoutMs'],
    [{ deadHolderQuietMs: 300 }, 'deadHolderQuietMs must exceed renewIntervalMs + 2 × nodeTimeoutMs'],
    [{ ttlMs: 600, deadHolderQuietMs: 600, safetyMarginMs: 150 }, 'deadHolderQuietMs must be below ttlMs'],
    [{ leaseTtl: 1000 }, 'Unrecognized key'],
  ])('refuses %j', (input, message) => {
    const parsed = haSection.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain(message);
  });
});
