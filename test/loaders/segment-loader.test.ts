import { describe, expect, it } from 'vitest';
import { loaderSection } from '../../loaders/config.js';
import { assertRetentionSafe } from '../../loaders/durability.js';
import { batchDedupToken } from '../../loaders/segment-loader.js';
import { isGatewayError } from '../../src/errors.js';

const config = loaderSection.parse({ batchRows: 1_000, batchBytes: 100_000 });
const manifest = { segmentId: 'gw-1.gateway.decision.0000000000000001', sha256: 'ab'.repeat(32) };

describe('segment loader decisions', () => {
  it('gives equal dedup tokens only to batches with equal rows: bytes, resume point, bounds and index', () => {
    const token = batchDedupToken(manifest, -1, config, 3);
    expect(batchDedupToken(manifest, -1, { ...config }, 3)).toBe(token);
    const others = [
      batchDedupToken({ ...manifest, sha256: 'cd'.repeat(32) }, -1, config, 3),
      batchDedupToken(manifest, 500, config, 3),
      batchDedupToken(manifest, -1, { ...config, batchRows: 2_000 }, 3),
      batchDedupToken(manifest, -1, { ...config, batchBytes: 200_000 }, 3),
      batchDedupToken(manifest, -1, config, 4),
    ];
    expect(new Set([token, ...others]).size).toBe(6);
  });

  it('refuses retention "delete" unless both the LOADED mark and the rows are durable', () => {
    const durable = {
      redisDurable: true,
      redisDetail: 'appendonly yes, appendfsync always',
      rowsDurable: true,
    };
    expect(() => assertRetentionSafe('delete', durable)).not.toThrow();
    expect(() =>
      assertRetentionSafe('archive', { ...durable, redisDurable: false, rowsDurable: false }),
    ).not.toThrow();
    for (const weak of [{ redisDurable: false }, { rowsDurable: false }]) {
      let error: unknown;
      try {
        assertRetentionSafe('delete', { ...durable, ...weak });
      } catch (err) {
        error = err;
      }
      expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
    }
  });
});
