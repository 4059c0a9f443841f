import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { isGatewayError } from '../src/errors.js';
import { tempDir } from './harness/process.js';

describe('config', () => {
  it('fills every default and freezes the result deeply', () => {
    const config = loadConfig();
    expect(config.channel.decisionTtlMs).toBe(86_400_000);
    expect(config.redis.keyPrefix).toBe('{hft}');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.channel)).toBe(true);
  });

  it('takes env overrides as HFT__SECTION__KEY_NAME, parsing JSON values', () => {
    const config = loadConfig({
      env: { HFT__CHANNEL__STREAM_MAX_LEN: '500', HFT__PROCESS_ID: 'gw-7', PATH: '/bin' },
    });
    expect(config.channel.streamMaxLen).toBe(500);
    expect(config.processId).toBe('gw-7');
  });

  it('layers file < env < overrides', () => {
    const file = join(tempDir('config'), 'hft.yaml');
    writeFileSync(file, 'channel:\n  inFlightMax: 10\n  maxAttempts: 7\nprocessId: from-file\n');
    const config = loadConfig({
      env: { HFT_CONFIG_FILE: file, HFT__CHANNEL__IN_FLIGHT_MAX: '20' },
      overrides: { processId: 'from-override' },
    });
    expect(config.channel).toMatchObject({ inFlightMax: 20, maxAttempts: 7 });
    expect(config.processId).toBe('from-override');
  });

  it('rejects an unknown key, naming it', () => {
    expect(() => loadConfig({ overrides: { channel: { streamMaxLength: 5 } } as never })).toThrow(
      /GW_ERR_CONFIG_INVALID.*channel.*streamMaxLength/,
    );
  });

  it('rejects a bad value, naming the key', () => {
    try {
      loadConfig({ env: { HFT__CHANNEL__IN_FLIGHT_MAX: '0' } });
      expect.unreachable();
    } catch (err) {
      expect(isGatewayError(err, 'GW_ERR_CONFIG_INVALID')).toBe(true);
      expect(String(err)).toContain('channel.inFlightMax');
    }
  });

  it('fails clearly on a missing config file', () => {
    expect(() => loadConfig({ file: '/nonexistent/hft.yaml' })).toThrow(/cannot read config file/);
  });
});
