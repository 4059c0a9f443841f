import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { type IntentHandler, IntentConsumer } from '../../src/channel/intent-consumer.js';
import { type ChannelMetrics, createChannelMetrics } from '../../src/channel/metrics.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { acceptedDecision } from '../fixtures/intents.js';

export type ChannelOverrides = Partial<Config['channel']>;

/** Channel settings for tests: short timeouts so failure paths run in milliseconds, not seconds. */
export function testChannel(overrides: ChannelOverrides = {}): Config['channel'] {
  return loadConfig({
    overrides: {
      channel: {
        attemptTimeoutMs: 1_000,
        maxAttempts: 3,
        retryBaseMs: 10,
        retryMaxMs: 50,
        blockMs: 50,
        claimIdleMs: 300,
        claimIntervalMs: 50,
        ...overrides,
      },
    },
  }).channel;
}

export const acceptAll: IntentHandler = async ({ envelope }) => acceptedDecision(envelope);

export interface RunningConsumer {
  readonly consumer: IntentConsumer;
  readonly metrics: ChannelMetrics;
  readonly redis: Redis;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startConsumer(
  url: string,
  opts: { name?: string; channel?: Config['channel']; handler?: IntentHandler } = {},
): Promise<RunningConsumer> {
  const name = opts.name ?? 'consumer-1';
  const redis = await connectRedis({ url, name });
  const blockingRedis = await connectRedis({ url, name: `${name}:block`, blocking: true });
  const scripts = new Scripts();
  scripts.register(redis);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const metrics = createChannelMetrics(createRegistry({ process_id: name, component: 'test' }));
  const consumer = new IntentConsumer({
    redis,
    blockingRedis,
    scripts,
    keyPrefix: '{hft}',
    channel: opts.channel ?? testChannel(),
    consumerName: name,
    gatewayId: name,
    handler: opts.handler ?? acceptAll,
    logger: createLogger({ level: 'info', processId: name }, sink),
    metrics,
  });
  await consumer.ensureGroup();
  consumer.start();
  return {
    consumer,
    metrics,
    redis,
    logs,
    close: async () => {
      await consumer.stop();
      redis.disconnect();
      blockingRedis.disconnect();
    },
  };
}
