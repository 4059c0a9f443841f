import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { BrokerAdapter } from '../broker/adapter.js';
import { IntentConsumer } from '../channel/intent-consumer.js';
import { createChannelMetrics } from '../channel/metrics.js';
import { type Clock, systemClock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { ReferencePrices } from '../contracts/reference-price.js';
import { GatewayError } from '../errors.js';
import { ExposureLimits } from '../exposure/exposure-limits.js';
import { JournalReader } from '../journal/journal-reader.js';
import {
  type OpenOrdersResult,
  type ReconcileDeps,
  type ReconcileResult,
  reconcileJournal,
  syncOpenOrders,
} from '../journal/reconcile.js';
import { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import type { Readiness } from '../ops/server.js';
import { connectRedis } from '../redis/connect.js';
import { StateLayoutGuard } from '../redis/layout.js';
import { Scripts } from '../redis/scripts.js';
import { RiskEngine } from '../risk/risk-engine.js';
import type { EventRecorder } from '../wal/recorder.js';
import { DecisionFactory } from './decision-factory.js';
import type { DispatchPermit } from './dispatch-permit.js';
import { type BrokerObserver, Dispatcher } from './dispatcher.js';
import { EventSink } from './event-sink.js';
import { ExecutionApplier } from './execution-applier.js';
import { GatewayStore } from './gateway-store.js';
import { IntentPipeline, type PolicyFloor, type RiskCheck } from './intent-pipeline.js';
import { type GatewayMetrics, createGatewayMetrics } from './metrics.js';

export interface GatewayDeps {
  readonly config: Readonly<Config>;
  readonly broker: BrokerAdapter;
  readonly prices: ReferencePrices;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
  readonly recorder?: EventRecorder;
  /** StormGuard: local policy floor, fed with broker outcomes and decisions. */
  readonly policy?: PolicyFloor & Partial<BrokerObserver>;
  /** Defaults to new RiskEngine(config.risk, prices, clock). */
  readonly risk?: RiskCheck;
  /** Consumer name in the group; defaults to config.processId. */
  readonly consumerName?: string;
}

export type GatewayState = 'STANDBY' | 'ACTIVATING' | 'ACTIVE' | 'DEACTIVATING' | 'CLOSED';

/**
 * The decision path of one gateway process. `create` builds everything warm (connections, scripts,
 * config checks) without consuming; `activate(permit)` reconciles the dispatch journal and only then
 * starts consuming (claiming what dead consumers left pending); `deactivate` stops reading, lets in-flight
 * intents finish and stops dispatching. The HA role machine (ha/) drives activate/deactivate with a
 * lease-backed permit; single-process mode uses FixedEpochPermit.
 */
export class Gateway {
  private stateValue: GatewayState = 'STANDBY';
  private permit: DispatchPermit | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<unknown> | undefined;
  private lastReconcileResult: ReconcileResult | undefined;
  private lastOpenOrdersResult: OpenOrdersResult | undefined;
  private openOrdersSync: Promise<OpenOrdersResult | undefined> | undefined;
  private revokePermit: () => void = () => {};
  private activation: Promise<void> | undefined;
  private deactivateRequested = false;
  private readonly unsubscribeReports: () => void;

  private constructor(
    private readonly deps: GatewayDeps,
    readonly redis: Redis,
    private readonly blockingRedis: Redis,
    readonly keys: Keyspace,
    readonly store: GatewayStore,
    readonly metrics: GatewayMetrics,
    private readonly consumer: IntentConsumer,
    private readonly pipeline: IntentPipeline,
    private readonly dispatcher: Dispatcher,
    private readonly decisions: DecisionFactory,
    private readonly executions: ExecutionApplier,
    private readonly clock: Clock,
    /** Shared with the pipeline: reconciliation skips what is being dispatched. */
    private readonly dispatching: ReadonlySet<string>,
    private readonly layout: StateLayoutGuard,
  ) {
    this.unsubscribeReports = deps.broker.onExecutionReport(executions.onReport);
  }

  static async create(deps: GatewayDeps): Promise<Gateway> {
    const { config, logger } = deps;
    if (config.gateway.reconcileMinAgeMs <= config.broker.requestTimeoutMs) {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `gateway.reconcileMinAgeMs (${config.gateway.reconcileMinAgeMs}) must exceed broker.requestTimeoutMs (${config.broker.requestTimeoutMs})`,
      );
    }
    const clock = deps.clock ?? systemClock;
    const name = deps.consumerName ?? config.processId;
    const redisOpts = {
      url: config.redis.stateUrl,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      connectTimeoutMs: config.redis.connectTimeoutMs,
    };
    const redis = await connectRedis({ ...redisOpts, name: `gateway:${name}` });
    let blockingRedis: Redis;
    try {
      blockingRedis = await connectRedis({ ...redisOpts, name: `gateway:${name}:block`, blocking: true });
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    const scripts = new Scripts();
    scripts.register(redis);
    const keys = new Keyspace(config.redis.keyPrefix);
    const metrics = createGatewayMetrics(deps.registry);
    const events = new EventSink(deps.recorder, metrics, logger);
    const store = new GatewayStore(redis, scripts, keys, config.channel.decisionTtlMs, {
      batchMax: config.gateway.scriptBatchMax,
      batchInFlight: config.gateway.scriptBatchInFlight,
    });
    const decisions = new DecisionFactory(config.processId, clock);
    const dispatcher = new Dispatcher({
      redis,
      keys,
      store,
      broker: deps.broker,
      decisions,
      metrics,
      events,
      logger,
      sendWindowMs: config.broker.requestTimeoutMs,
      ...(deps.policy?.observeBroker ? { observer: deps.policy as BrokerObserver } : {}),
    });
    const dispatching = new Set<string>();
    const pipeline = new IntentPipeline({
      store,
      dispatcher,
      risk: deps.risk ?? new RiskEngine(config.risk, deps.prices, clock),
      limits: new ExposureLimits(config.exposure),
      decisions,
      events,
      metrics,
      logger,
      clock,
      dispatching,
      ...(deps.policy ? { policy: deps.policy } : {}),
    });
    const consumer = new IntentConsumer({
      redis,
      blockingRedis,
      scripts,
      keyPrefix: config.redis.keyPrefix,
      channel: config.channel,
      consumerName: name,
      gatewayId: config.processId,
      handler: pipeline.handle,
      // The admit script answers a decided key itself (DUPLICATE): no pre-check round trip.
      precheckStored: false,
      logger,
      metrics: createChannelMetrics(deps.registry),
    });
    const layout = new StateLayoutGuard(redis, scripts, keys);
    try {
      // Before anything reads the journal: a release older than the data refuses instead of misreading.
      await layout.check();
      await consumer.ensureGroup();
    } catch (err) {
      redis.disconnect();
      blockingRedis.disconnect();
      throw err;
    }
    const executions = new ExecutionApplier({
      store,
      metrics,
      events,
      logger,
      max: config.gateway.executionQueueMax,
      retryMs: config.gateway.reconcileIntervalMs,
    });
    const gateway = new Gateway(
      deps,
      redis,
      blockingRedis,
      keys,
      store,
      metrics,
      consumer,
      pipeline,
      dispatcher,
      decisions,
      executions,
      clock,
      dispatching,
      layout,
    );
    return gateway;
  }

  get state(): GatewayState {
    return this.stateValue;
  }

  /** What the reconciliation of the last activate() found. */
  get lastReconcile(): ReconcileResult | undefined {
    return this.lastReconcileResult;
  }

  /** What the open-order sync of the last activate() found, once it is done (see openOrdersSynced). */
  get lastOpenOrders(): OpenOrdersResult | undefined {
    return this.lastOpenOrdersResult;
  }

  /** Intents inside the pipeline right now (read, not yet answered). */
  inFlight(): number {
    return this.pipeline.inFlight;
  }

  /**
   * Reconciles the journal (result in {@link lastReconcile}), then starts consuming, which claims what dead
   * consumers left pending, and syncs open orders with the venue alongside ({@link openOrdersSynced}).
   * FENCED during reconciliation rejects and the gateway stays STANDBY.
   */
  async activate(permit: DispatchPermit): Promise<void> {
    if (this.stateValue !== 'STANDBY') {
      throw new GatewayError('GW_ERR_INTERNAL', `activate() in state ${this.stateValue}`);
    }
    this.stateValue = 'ACTIVATING';
    this.deactivateRequested = false;
    this.activation = this.runActivation(permit);
    try {
      await this.activation;
    } finally {
      this.activation = undefined;
    }
  }

  private async runActivation(permit: DispatchPermit): Promise<void> {
    const startedAt = performance.now();
    const guarded = this.guard(permit);
    this.permit = guarded;
    this.executions.setPermit(guarded);
    try {
      // Before this release writes anything: record its layouts, so an older release now refuses.
      await this.layout.claim();
      const result = await this.reconcile({ scanAll: true });
      const reconciledAt = performance.now();
      this.lastReconcileResult = result;
      if (this.deactivateRequested || !guarded.mayDispatch()) {
        throw new GatewayError('GW_ERR_NOT_LEADER', 'deactivated or permit withdrawn during activation');
      }
      this.pipeline.setPermit(guarded);
      this.consumer.start();
      // After consuming starts, not before: until it is done, reservations of orders that filled or were
      // canceled in the failover gap are still counted, which only ever makes admission stricter (the
      // argument is in docs/gateway.md, "Activation"). deactivate() waits for it.
      this.openOrdersSync = this.runOpenOrdersSync(guarded);
      this.reconcileTimer = setInterval(() => {
        this.reconciling ??= this.reconcile()
          .catch((err) => this.deps.logger.warn({ err }, 'periodic reconciliation failed'))
          .finally(() => {
            this.reconciling = undefined;
          });
      }, this.deps.config.gateway.reconcileIntervalMs);
      this.reconcileTimer.unref();
      this.stateValue = 'ACTIVE';
      const doneAt = performance.now();
      this.deps.logger.info(
        {
          epoch: permit.epoch,
          ...result,
          reconcile_ms: Math.round(reconciledAt - startedAt),
          start_ms: Math.round(doneAt - reconciledAt),
          activation_ms: Math.round(doneAt - startedAt),
        },
        'gateway active',
      );
    } catch (err) {
      this.revokePermit();
      this.permit = undefined;
      this.executions.setPermit(undefined);
      this.stateValue = 'STANDBY';
      throw err;
    }
  }

  /** The open-order sync of this activation; never rejects (FENCED has already deactivated the gateway). */
  private async runOpenOrdersSync(permit: DispatchPermit): Promise<OpenOrdersResult | undefined> {
    const startedAt = performance.now();
    try {
      const result = await syncOpenOrders(this.reconcileDeps(permit), {
        batch: this.deps.config.gateway.reconcileBatch,
        concurrency: this.deps.config.gateway.reconcileConcurrency,
      });
      this.lastOpenOrdersResult = result;
      this.deps.logger.info(
        { epoch: permit.epoch, ...result, sync_ms: Math.round(performance.now() - startedAt) },
        'open orders synced after activation',
      );
      return result;
    } catch (err) {
      this.deps.logger.warn({ err }, 'open-order sync after activation failed; the next activation retries');
      return undefined;
    }
  }

  /**
   * The open-order sync started by the last activate() (it runs while the gateway consumes); resolves to
   * its result, or undefined when it failed or none ran.
   */
  async openOrdersSynced(): Promise<OpenOrdersResult | undefined> {
    return this.openOrdersSync;
  }

  /**
   * Stops reading, lets in-flight intents finish (bounded by gateway.drainTimeoutMs), stops dispatching.
   * Called during activate(), it makes the activation stop before consuming (activate rejects
   * GW_ERR_NOT_LEADER) and resolves once the gateway is STANDBY.
   */
  async deactivate(): Promise<void> {
    if (this.stateValue === 'ACTIVATING') {
      // Let the activation see the request and stop before it starts consuming.
      this.deactivateRequested = true;
      await this.activation?.catch(() => {});
    }
    if (this.stateValue !== 'ACTIVE') return;
    this.stateValue = 'DEACTIVATING';
    clearInterval(this.reconcileTimer);
    this.reconcileTimer = undefined;
    const drained = Promise.all([
      this.consumer.stop(),
      this.reconciling,
      this.openOrdersSync,
      this.executions.idle(),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.deps.config.gateway.drainTimeoutMs);
    });
    const outcome = await Promise.race([drained.then(() => 'drained' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.deps.logger.warn('in-flight intents did not finish in time; their journal entries stay ADMITTED');
    }
    this.revokePermit();
    this.pipeline.setPermit(undefined);
    this.executions.setPermit(undefined);
    this.permit = undefined;
    this.stateValue = 'STANDBY';
    this.deps.logger.info('gateway standby');
  }

  /** Ready only when this process may dispatch right now. */
  readiness(): Readiness {
    const broker = this.deps.broker as { connected?: boolean };
    const brokerConnected = broker.connected ?? true;
    const mayDispatch = this.permit?.mayDispatch() ?? false;
    return {
      ready: this.stateValue === 'ACTIVE' && mayDispatch && brokerConnected,
      detail: {
        state: this.stateValue,
        epoch: this.permit?.epoch ?? null,
        may_dispatch: mayDispatch,
        broker_connected: brokerConnected,
      },
    };
  }

  /**
   * One reconciliation pass now over orphaned entries (see reconcileJournal); `scanAll` looks at every
   * ADMITTED entry (activation), otherwise only those whose attempt is past the orphan age.
   */
  async reconcile(opts: { scanAll?: boolean } = {}): Promise<ReconcileResult> {
    const permit = this.permit;
    if (!permit) throw new GatewayError('GW_ERR_NOT_LEADER', 'no permit');
    const result = await reconcileJournal(this.reconcileDeps(permit), {
      orphanAgeMs: this.deps.config.gateway.reconcileMinAgeMs,
      batch: this.deps.config.gateway.reconcileBatch,
      concurrency: this.deps.config.gateway.reconcileConcurrency,
      scanAll: opts.scanAll ?? false,
    });
    this.metrics.reconciled.inc({ result: 'found' }, result.found);
    this.metrics.reconciled.inc({ result: 'redispatched' }, result.redispatched);
    this.metrics.reconciled.inc({ result: 'expired' }, result.expired);
    this.metrics.reconciled.inc({ result: 'failed' }, result.failed);
    this.metrics.reconciled.inc({ result: 'live' }, result.live);
    return result;
  }

  private reconcileDeps(permit: DispatchPermit): ReconcileDeps {
    return {
      reader: new JournalReader(this.redis, this.keys),
      store: this.store,
      broker: this.deps.broker,
      dispatcher: this.dispatcher,
      decisions: this.decisions,
      permit,
      clock: this.clock,
      logger: this.deps.logger,
      skip: this.dispatching,
      stop: () =>
        this.deactivateRequested || this.stateValue === 'DEACTIVATING' || this.stateValue === 'CLOSED',
    };
  }

  /** Execution reports applied so far have settled (tests). */
  async executionsIdle(): Promise<void> {
    await this.executions.idle();
  }

  /** deactivate(), then closes the Redis connections. The broker belongs to the caller. */
  async close(): Promise<void> {
    await this.deactivate();
    this.unsubscribeReports();
    this.stateValue = 'CLOSED';
    this.redis.disconnect();
    this.blockingRedis.disconnect();
  }

  /**
   * Wraps the permit so a FENCED answer anywhere also stops this gateway consuming, and so nothing is sent
   * under it once deactivate() has returned (an intent still finishing after the drain timeout finds the
   * permit withdrawn and aborts before the broker).
   */
  private guard(permit: DispatchPermit): DispatchPermit {
    let revoked = false;
    this.revokePermit = () => {
      revoked = true;
    };
    return {
      epoch: permit.epoch,
      mayDispatch: () => !revoked && permit.mayDispatch(),
      onFenced: (currentEpoch: number) => {
        permit.onFenced(currentEpoch);
        setImmediate(() => {
          this.deactivate().catch((err) => this.deps.logger.error({ err }, 'deactivate after FENCED failed'));
        });
      },
    };
  }
}
