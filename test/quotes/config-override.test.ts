import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { quotesSection } from '../../src/quotes/config.js';
import { QuoteIngress } from '../../src/quotes/quote-ingress.js';
import {
  CollectingRecorder,
  HandFeed,
  STOCK_TICK_PAYLOAD,
  envelope,
  logSink,
  metricValue,
  quotesConfig,
  startRig,
  stockTick,
} from './quote-fixtures.js';

const issues = (input: unknown) => {
  const r = quotesSection.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('quotes config section', () => {
  it('defaults: strict v1, override off, drop_oldest, a power-of-two queue', () => {
    const c = quotesSection.parse({});
    expect(c).toMatchObject({
      queueCapacity: 65_536,
      overflowPolicy: 'drop_oldest',
      schema: { version: 'v1', override: { enabled: false, acceptUnknownFields: false, acceptVersions: [] } },
    });
    expect(configSchema.parse({}).quotes).toEqual(c);
  });

  it('refuses at start-up: unknown keys, a non-power-of-two queue, another schema version, a half-set override', () => {
    expect(issues({ queueSize: 1024 })[0]).toMatch(/Unrecognized key/);
    expect(issues({ queueCapacity: 1000 })).toEqual(['queueCapacity: must be a power of two']);
    expect(issues({ schema: { version: 'v2' } })[0]).toMatch(/^schema\.version: Invalid literal value/);
    expect(issues({ overflowPolicy: 'block' })[0]).toMatch(/^overflowPolicy/);
    expect(issues({ schema: { override: { enabled: true } } })).toEqual([
      'schema.override.reason: an enabled override needs a reason',
    ]);
    expect(issues({ schema: { override: { acceptUnknownFields: true } } })).toEqual([
      'schema.override.enabled: override settings are set but override.enabled is false',
    ]);
    expect(issues({ schema: { override: { enabled: true, reason: 'x', acceptVersions: ['v1'] } } })).toEqual([
      'schema.override.acceptVersions: v1 is always accepted; list only alternate versions',
    ]);
    expect(configSchema.safeParse({ quotes: { bogus: 1 } }).success).toBe(false);
  });

  it('loads from the environment into a frozen config the ingress runs on; a schema version other than v1 fails start-up', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const config = loadConfig({
      env: {
        HFT__QUOTES__QUEUE_CAPACITY: '1024',
        HFT__QUOTES__OVERFLOW_POLICY: 'halt',
        HFT__QUOTES__SYMBOLS: '["2330","2317"]',
      },
    });
    expect(Object.isFrozen(config.quotes.symbols)).toBe(true);
    const feed = new HandFeed();
    const recorder = new CollectingRecorder();
    const ingress = new QuoteIngress(config.quotes, {
      feed,
      recorder,
      logger: logSink().logger,
      registry: new Registry(),
    });
    await ingress.start();
    expect(feed.subscribed).toEqual({ symbols: ['2330', '2317'], topics: ['tick', 'bidask'] });
    feed.tick(stockTick(), 0);
    await ingress.idle();
    expect(recorder.records).toHaveLength(1);
    ingress.close();
    expect(() => loadConfig({ env: { HFT__QUOTES__SCHEMA__VERSION: 'v2' } })).toThrow(
      /GW_ERR_CONFIG_INVALID/,
    );
  });

  it('refuses to start against a feed that announces another schema version', async () => {
    const sink = logSink();
    const ingress = new QuoteIngress(quotesConfig(), {
      feed: new HandFeed('v2'),
      recorder: new CollectingRecorder(),
      logger: sink.logger,
      registry: new Registry(),
    });
    await expect(ingress.start()).rejects.toMatchObject({ code: 'GW_ERR_CONFIG_INVALID' });
  });
});

describe('emergency schema override', () => {
  const override = {
    enabled: true,
    reason: 'INC-4711 broker added a field',
    acceptUnknownFields: true,
    acceptVersions: ['v1.1'],
  };

  it('is announced loudly at start, with its reason, and the gauge shows it', async () => {
    const rig = await startRig({ schema: { override } }, { feed: new HandFeed('v1.1') });
    const banner = rig.sink.lines.filter((l) => l.event === 'quote_schema_override_active');
    expect(banner).toEqual([
      expect.objectContaining({
        level: 'error',
        reason: 'INC-4711 broker added a field',
        accept_unknown_fields: true,
        accept_versions: ['v1.1'],
        runbook: 'runbooks/quote-schema.md',
      }),
    ]);
    expect(await metricValue(rig.registry, 'hft_quote_schema_override_active')).toBe(1);
    rig.ingress.close();
  });

  it('accepts unknown fields (dropping them) and a listed alternate version, counted; everything else stays strict', async () => {
    const rig = await startRig({ schema: { override } });
    rig.feed.tick(stockTick({ best_guess: '1' }), -1);
    rig.feed.tick(
      JSON.stringify({ quote_version: 'v1.1', kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
      -1,
    );
    rig.feed.tick(
      JSON.stringify({ quote_version: 'v2', kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
      -1,
    );
    rig.feed.tick(stockTick({ close: 'x' }), -1);
    const { volume: _v, ...withoutVolume } = STOCK_TICK_PAYLOAD;
    rig.feed.tick(envelope('stock_tick', withoutVolume), -1);
    await rig.ingress.idle();
    expect(rig.recorder.records).toHaveLength(2);
    const [first, second] = rig.recorder.records.map(
      (r) => r.payload as { quote_version: string; fields: object },
    );
    expect(first?.fields).not.toHaveProperty('best_guess');
    expect(second?.quote_version).toBe('v1.1');
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_override_accepted_total', { use: 'unknown_field' }),
    ).toBe(1);
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_override_accepted_total', { use: 'alt_version' }),
    ).toBe(1);
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason: 'QUOTE_VERSION' }),
    ).toBe(1);
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason: 'QUOTE_BAD_NUMBER' }),
    ).toBe(1);
    expect(
      await metricValue(rig.registry, 'hft_quote_schema_reject_total', { reason: 'QUOTE_MISSING_FIELD' }),
    ).toBe(1);
    rig.ingress.close();
  });

  it('off by default: the same payloads are rejected and nothing is announced', async () => {
    const rig = await startRig({});
    rig.feed.tick(stockTick({ best_guess: '1' }), -1);
    rig.feed.tick(
      JSON.stringify({ quote_version: 'v1.1', kind: 'stock_tick', payload: STOCK_TICK_PAYLOAD }),
      -1,
    );
    await rig.ingress.idle();
    expect(rig.recorder.records).toEqual([]);
    expect(rig.sink.lines.some((l) => l.event === 'quote_schema_override_active')).toBe(false);
    expect(await metricValue(rig.registry, 'hft_quote_schema_override_active')).toBe(0);
  });
});

describe('emergency schema override, periodically', () => {
  it('repeats the banner every logIntervalMs while on, and stops on close()', async () => {
    const { vi } = await import('vitest');
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const rig = await startRig({
        schema: {
          override: { enabled: true, reason: 'INC-1', acceptUnknownFields: true, logIntervalMs: 5_000 },
        },
      });
      vi.advanceTimersByTime(15_000);
      const banners = () => rig.sink.lines.filter((l) => l.event === 'quote_schema_override_active').length;
      await new Promise((resolve) => setImmediate(resolve));
      expect(banners()).toBe(4);
      rig.ingress.close();
      vi.advanceTimersByTime(15_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(banners()).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });
});
