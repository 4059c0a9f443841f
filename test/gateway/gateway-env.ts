import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { TcpBroker } from '../../src/broker/tcp-broker.js';
import { IntentClient } from '../../src/channel/intent-client.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { Gateway, type GatewayDeps } from '../../src/gateway/gateway.js';
import { ExposureReader } from '../../src/exposure/exposure-reader.js';
import { Keyspace } from '../../src/keys.js';
import { createLogger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { ReferencePriceBook } from '../../src/quotes/reference-price-book.js';
import { connectRedis } from '../../src/redis/connect.js';
import type { VenueSim } from '../harness/venue-sim.js';

/** Config for gateway tests: fast channel timings, no reference prices required, the venue-sim's port. */
export function gatewayConfig(
  redisUrl: string,
  sim: VenueSim,
  overrides: ConfigInput = {},
): Readonly<Config> {
  const base: ConfigInput = {
    processId: 'gw-test',
    redis: { stateUrl: redisUrl },
    channel: {
      attemptTimeoutMs: 2_000,
      maxAttempts: 4,
      retryBaseMs: 10,
      retryMaxMs: 50,
      blockMs: 50,
      claimIdleMs: 300,
      claimIntervalMs: 50,
    },
    broker: { host: sim.host, port: sim.orderPort, requestTimeoutMs: 500, connectTimeoutMs: 2_000 },
    gateway: { reconcileMinAgeMs: 1_000, reconcileIntervalMs: 100, drainTimeoutMs: 5_000 },
    risk: {
      rejectWithoutReference: false,
      throttle: {
        perStrategy: { ratePerSec: 1_000_000, burst: 1_000_000 },
        global: { ratePerSec: 1_000_000, burst: 1_000_000 },
      },
    },
  };
  return loadConfig({ overrides: merge(base, overrides) as ConfigInput });
}

function merge(a: unknown, b: unknown): unknown {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(b)) {
    return b === undefined ? a : b;
  }
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
  return out;
}

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly broker: TcpBroker;
  /** Taken unless mode is 'bare'. */
  readonly permit: FixedEpochPermit;
  readonly prices: ReferencePriceBook;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * An in-process Gateway with its own TcpBroker to the venue-sim. mode 'active': a fresh fixed epoch is
 * taken (INCR) and the gateway activated; 'warm': epoch taken, not activated; 'bare': neither (the caller
 * brings its own permit, e.g. several processes sharing one epoch).
 */
export async function startGateway(
  config: Readonly<Config>,
  extra: Partial<GatewayDeps> = {},
  mode: 'active' | 'warm' | 'bare' = 'active',
): Promise<RunningGateway> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ level: 'info', processId: config.processId }, sink);
  const broker = await TcpBroker.connect(
    { ...config.broker, reconnectBaseMs: 20, reconnectMaxMs: 200 },
    logger,
  );
  const prices = new ReferencePriceBook();
  const gateway = await Gateway.create({
    config,
    broker,
    prices,
    logger,
    registry: createRegistry({ process_id: config.processId, component: 'gateway' }),
    ...extra,
  }).catch(async (err: unknown) => {
    await broker.close();
    throw err;
  });
  const permit =
    mode === 'bare'
      ? (undefined as unknown as FixedEpochPermit)
      : await FixedEpochPermit.acquire(gateway.redis, gateway.keys, logger);
  if (mode === 'active') await gateway.activate(permit);
  return {
    gateway,
    broker,
    permit,
    prices,
    logs,
    close: async () => {
      await gateway.close();
      await broker.close();
    },
  };
}

export async function client(config: Readonly<Config>): Promise<IntentClient> {
  return IntentClient.connect({
    redisUrl: config.redis.stateUrl,
    keyPrefix: config.redis.keyPrefix,
    channel: config.channel,
  });
}

export async function exposureOf(redisUrl: string, account: string) {
  const redis: Redis = await connectRedis({ url: redisUrl, name: 'exposure-check' });
  try {
    return await new ExposureReader(redis, new Keyspace('{hft}')).read(account);
  } finally {
    redis.disconnect();
  }
}
