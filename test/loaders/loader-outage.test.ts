import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { walSection } from '../../src/wal/config.js';
import { MANIFEST_SUFFIX } from '../../src/wal/manifest.js';
import { WalWriter } from '../../src/wal/wal-writer.js';
import { ClickHouseServer } from '../harness/clickhouse-server.js';
import { waitFor } from '../harness/process.js';
import { RedisServer } from '../harness/redis-server.js';
import { LoaderScenario } from './loader-env.js';

const TOPICS = ['gateway.decision', 'gateway.intent', 'market.tick'] as const;

/** Sealed manifests still in the WAL dir (not archived): the backlog as the disk shows it. */
function sealedOnDisk(root: string, producerId: string): number {
  let n = 0;
  for (const topic of TOPICS) {
    try {
      n += readdirSync(join(root, producerId, topic)).filter((f) => f.endsWith(MANIFEST_SUFFIX)).length;
    } catch {
      // topic dir not created yet
    }
  }
  return n;
}

/**
 * V-WAL-OUTAGE (CE3-07): the real WAL writer keeps recording while ClickHouse is SIGKILLed; the backlog
 * grows on disk and nothing is deleted; ClickHouse comes back and the same loader process drains the
 * backlog by itself, every recorded event present exactly once.
 */
describe('loaders: ClickHouse outage while the gateway keeps recording', () => {
  let redisServer: RedisServer;
  let clickhouse: ClickHouseServer;
  let scenario: LoaderScenario;

  beforeAll(async () => {
    [redisServer, clickhouse] = await Promise.all([RedisServer.start(), ClickHouseServer.start()]);
    scenario = await LoaderScenario.create(redisServer, clickhouse);
  });
  afterAll(async () => {
    await scenario?.close();
    await Promise.all([redisServer?.stop(), clickhouse?.stop()]);
  });

  it('V-WAL-OUTAGE: WAL grows while ClickHouse is down, then drains to zero with every record once', async () => {
    const producerId = 'gw-outage';
    const wal = await WalWriter.open(
      walSection.parse({
        dir: scenario.walDir,
        fsync: 'never',
        segmentMaxAgeMs: 150,
        segmentMaxBytes: 64 * 1024,
        disk: { enabled: false },
      }),
      {
        producerId,
        logger: createLogger({ level: 'warn', processId: producerId }),
        registry: new Registry(),
      },
    );
    const recorded: number[] = [];
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        for (let k = 0; k < 50; k += 1, i += 1) {
          const topic = TOPICS[i % TOPICS.length] as (typeof TOPICS)[number];
          recorded.push(wal.record(topic, { i, note: 'outage drill' }));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const loader = await scenario.spawnLoader('loader-a');
    const metric = async (name: string) => scenario.metric(loader, name);
    await waitFor('first rows loaded', async () => (await metric('hft_loader_rows_total')) > 0);

    await clickhouse.kill();
    const downAt = sealedOnDisk(scenario.walDir, producerId);
    await waitFor('WAL grows while ClickHouse is down', async () => {
      return (
        sealedOnDisk(scenario.walDir, producerId) >= downAt + 10 &&
        (await metric('hft_loader_insert_errors_total')) >= 3
      );
    });
    await waitFor('backlog gauge shows it', async () => (await metric('hft_loader_backlog_segments')) >= 10);
    const lagDuringOutage = await metric('hft_loader_replay_lag_seconds');
    expect(lagDuringOutage).toBeGreaterThan(0);

    await clickhouse.restart();
    writing = false;
    await writer;
    await wal.close();
    expect(recorded.every((seq) => seq > 0)).toBe(true);

    await waitFor(
      'backlog drained to zero',
      async () =>
        sealedOnDisk(scenario.walDir, producerId) === 0 &&
        (await metric('hft_loader_backlog_segments')) === 0 &&
        (await metric('hft_loader_drain_eta_seconds')) === 0,
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const counts = await scenario.counts(`producer_id = '${producerId}'`);
    expect(counts.final).toBe(recorded.length);
    expect(counts.distinct).toBe(recorded.length);
    const keys = await scenario.keys();
    const missing = recorded.filter(
      (seq, i) => !keys.has(`${producerId}/${TOPICS[i % TOPICS.length]}/${seq}`),
    );
    expect(missing).toEqual([]);
  });
});
