import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { isGatewayError } from '../../src/errors.js';
import { DEFAULT_TOPIC_POLICIES } from '../../src/wal/config.js';

describe('wal config section', () => {
  it('defaults to wal_first with interval fsync and the documented disk policy', () => {
    const { wal } = loadConfig();
    expect(wal).toMatchObject({ mode: 'wal_first', fsync: 'interval', disk: { enabled: true } });
    expect(wal.disk.topicPolicies).toEqual(DEFAULT_TOPIC_POLICIES);
    expect(wal.disk.topicPolicies['market.tick']).toBe('drop');
    expect(wal.disk.topicPolicies['gateway.fill']).toBe('write');
  });

  it('takes overrides from the environment, nested sections included', () => {
    const { wal } = loadConfig({
      env: {
        HFT__WAL__MODE: 'direct',
        HFT__WAL__FSYNC: 'batch',
        HFT__WAL__DISK__HALT__MIN_FREE_BYTES: '123',
      },
    });
    expect(wal).toMatchObject({ mode: 'direct', fsync: 'batch', disk: { halt: { minFreeBytes: 123 } } });
  });

  it.each([
    [{ wal: { fsynk: 'batch' } }, 'wal: Unrecognized key'],
    [{ wal: { disk: { topicPolicies: { 'market.quote': 'drop' } } } }, 'wal.disk.topicPolicies'],
    [{ wal: { disk: { topicPolicies: { 'market.tick': 'maybe' } } } }, 'wal.disk.topicPolicies.market.tick'],
    [{ wal: { mode: 'clickhouse' } }, 'wal.mode'],
    [{ wal: { maxBufferedBytes: 65536, maxRecordBytes: 1048576 } }, 'wal.maxRecordBytes'],
  ])('rejects %j at start-up', (overrides, where) => {
    let error: unknown;
    try {
      loadConfig({ overrides: overrides as never });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toContain(where);
  });
});
