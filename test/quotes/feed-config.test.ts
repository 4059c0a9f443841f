import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { quotesSection } from '../../src/quotes/config.js';

describe('quotes.feed and quotes.publish config', () => {
  it('is off by default, so a deployment that sets nothing runs no ingress and publishes nothing', () => {
    const q = quotesSection.parse({});
    expect(q.feed).toMatchObject({ enabled: false, host: '127.0.0.1', port: 0 });
    expect(q.publish.enabled).toBe(false);
    expect(q.publish.redisUrl).toBeUndefined();
  });

  it('refuses an enabled feed without a port or without symbols to subscribe', () => {
    const noPort = quotesSection.safeParse({ symbols: ['2330'], feed: { enabled: true } });
    expect(noPort.success).toBe(false);
    expect(noPort.error?.issues.map((i) => i.path.join('.'))).toContain('feed.port');
    const noSymbols = quotesSection.safeParse({ feed: { enabled: true, port: 7400 } });
    expect(noSymbols.success).toBe(false);
    expect(noSymbols.error?.issues.map((i) => i.path.join('.'))).toContain('symbols');
    const backwards = quotesSection.safeParse({
      symbols: ['2330'],
      feed: { enabled: true, port: 7400, reconnectInitialMs: 500, reconnectMaxMs: 100 },
    });
    expect(backwards.success).toBe(false);
  });

  it('is turned on through the environment exactly as the cluster launcher passes it', () => {
    const config = loadConfig({
      env: {
        HFT__QUOTES__FEED__ENABLED: 'true',
        HFT__QUOTES__FEED__PORT: '7400',
        HFT__QUOTES__SYMBOLS: '["2330","2317"]',
        HFT__QUOTES__PUBLISH__ENABLED: 'true',
      },
    });
    expect(config.quotes.feed).toMatchObject({ enabled: true, host: '127.0.0.1', port: 7400 });
    expect(config.quotes.symbols).toEqual(['2330', '2317']);
    expect(config.quotes.publish.enabled).toBe(true);
  });
});
