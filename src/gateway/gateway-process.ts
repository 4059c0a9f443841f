import type { DestinationStream } from 'pino';
import { TcpBroker } from '../broker/tcp-broker.js';
import { systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { createRegistry } from '../metrics/registry.js';
import { OpsServer } from '../ops/server.js';
import { PolicyMetrics } from '../policy/policy-metrics.js';
import { PolicyStore } from '../policy/policy-store.js';
import { StormGuard } from '../policy/storm-guard.js';
import { QuoteService } from '../quotes/quote-service.js';
import { Scripts } from '../redis/scripts.js';
import { type Recorder, createRecorder } from '../wal/create-recorder.js';
import { GatewayHa } from '../../ha/gateway-ha.js';
import { FixedEpochPermit } from './fixed-epoch-permit.js';
import { Gateway } from './gateway.js';

export interface GatewayProcess {
  readonly gateway: Gateway;
  readonly ops: OpsServer;
  /** WAL-first (or direct) recorder of the gateway's events: intents, decisions, dispatches, acks, fills. */
  readonly recorder: Recorder;
  /** Listens on the ops port, takes the permit, activates. Returns the ops server address. */
  start(): Promise<string>;
  /** Clean shutdown: stop consuming, finish in-flight intents, close everything. */
  stop(): Promise<void>;
}

/**
 * Builds a gateway process from its config: logger, registry, ops server (/health/live, /health/ready,
 * /metrics), TcpBroker to `broker.host:port`, the cluster policy (PolicyStore + StormGuard), and the
 * Gateway. Single-process mode: the permit is a FixedEpochPermit taken in start(). The HA role machine
 * replaces that one step with a lease-backed permit driving activate/deactivate.
 */
export async function createGatewayProcess(
  config: Readonly<Config>,
  logDestination?: DestinationStream,
): Promise<GatewayProcess> {
  const logger = createLogger(
    { level: config.log.level, processId: config.processId, component: 'gateway' },
    logDestination,
  );
  const registry = createRegistry({ process_id: config.processId, component: 'gateway' });
  // Not connect(): the process starts (and reports not ready) while the venue is unreachable.
  const broker = new TcpBroker(config.broker, logger);
  const policyMetrics = new PolicyMetrics(registry);
  let permit: FixedEpochPermit | undefined;
  // HA mode (config.ha.enabled): a lease-backed permit per leadership term instead of the fixed one.
  let ha: GatewayHa | undefined;
  let policyStore: PolicyStore | undefined;
  let guard: StormGuard | undefined;
  let gateway: Gateway;
  // Opened before the gateway so recovery of a crashed WAL (torn tails, sealing) happens before any intent.
  const recorder = await createRecorder(config, { producerId: config.processId, logger, registry });
  // Quote ingress (quotes.feed): fills the reference prices the collar reads and records market.* to the
  // same WAL. With the feed off its book stays empty (docs/quotes.md "In the gateway process").
  const quotes = new QuoteService(config, { recorder, logger, registry });
  try {
    gateway = await Gateway.create({
      config,
      broker,
      prices: quotes.book,
      recorder,
      logger,
      registry,
      policy: {
        effectiveMode: () => guard?.effectiveMode() ?? 'HALT',
        observeDecision: (reason) => guard?.observeDecision(reason),
        observeBroker: (ok, latencyNs) => guard?.observeBroker(ok, latencyNs),
      },
    });
  } catch (err) {
    await Promise.allSettled([broker.close(), recorder.close()]);
    throw err;
  }
  const scripts = new Scripts();
  scripts.register(gateway.redis);
  policyStore = new PolicyStore({
    redis: gateway.redis,
    scripts,
    keys: gateway.keys,
    config: config.policy,
    logger,
    metrics: policyMetrics,
    clock: systemClock,
    fencingEpoch: () => (ha ? ha.epoch() : (permit?.epoch ?? null)),
  });
  guard = new StormGuard({
    store: policyStore,
    config: config.policy,
    clock: systemClock,
    logger,
    metrics: policyMetrics,
    actor: `storm-guard:${config.processId}`,
  });
  const unwatchBroker = broker.onConnectionChange((connected) => guard?.observeBrokerConnection(connected));
  const ops = new OpsServer({
    registry,
    logger,
    readiness: () => quotes.readiness(gateway.readiness()),
    adminToken: config.ops.adminToken,
  });
  quotes.registerAdmin(ops);
  if (config.ha.enabled) {
    ha = await GatewayHa.create({
      config,
      target: gateway,
      stateRedis: gateway.redis,
      keys: gateway.keys,
      registry,
      logger,
      ops,
    });
  }

  return {
    gateway,
    ops,
    recorder,
    async start() {
      const address = await ops.listen(config.ops.host, config.ops.port);
      await policyStore?.start();
      guard?.start();
      // Before activation, so a standby too keeps warm reference prices for when it takes over.
      await quotes.start();
      if (ha) {
        // Warm STANDBY; the role machine activates the gateway whenever this process wins the lease.
        ha.start(address);
        logger.info({ event: 'gateway.ready', ops: address, mode: 'ha' }, 'gateway process ready (HA)');
        return address;
      }
      permit = await FixedEpochPermit.acquire(gateway.redis, gateway.keys, logger);
      await gateway.activate(permit);
      logger.info({ event: 'gateway.ready', ops: address, epoch: permit.epoch }, 'gateway process ready');
      return address;
    },
    async stop() {
      await ha?.stop();
      await gateway.close();
      // Feed closed and queued quotes drained into the recorder before it closes.
      await quotes.stop();
      // After the gateway: every event of the intents it finished is recorded, then sealed durably.
      await recorder.close();
      unwatchBroker();
      guard?.stop();
      policyStore?.stop();
      await Promise.allSettled([broker.close(), ops.close()]);
    },
  };
}
