import type { Registry } from 'prom-client';
import { type Clock, systemClock } from '../clock.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventRecorder } from '../wal/recorder.js';
import type { QuotesConfig } from './config.js';
import type { QuoteCallback, QuoteFeed } from './quote-feed.js';
import { QuoteMetrics } from './quote-metrics.js';
import { QuoteProcessor } from './quote-processor.js';
import { QuotePublisher } from './quote-publisher.js';
import { QuoteRing, type RawSlot, TOPIC_BIDASK, TOPIC_TICK } from './quote-ring.js';
import { QUOTE_VERSION_V1 } from './quote-schema-v1.js';
import { QuoteValidator } from './quote-validator.js';
import { ReferencePriceBook } from './reference-price-book.js';

/** Runs one worker turn later, off the callback's stack. Default `setImmediate`; tests pass their own. */
export type TurnScheduler = (turn: () => void) => void;

export interface QuoteIngressDeps {
  readonly feed: QuoteFeed;
  readonly recorder: EventRecorder;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
  readonly scheduler?: TurnScheduler;
}

export interface QuoteIngressStatus {
  readonly halted: boolean;
  readonly overflow_policy: QuotesConfig['overflowPolicy'];
  readonly queue_depth: number;
  readonly queue_capacity: number;
  readonly dropped_tick: number;
  readonly dropped_bidask: number;
}

const defaultScheduler: TurnScheduler = (turn) => {
  setImmediate(turn);
};

/**
 * Quote ingress (CE2-10/11): broker callbacks → bounded ring → worker turns (validate v1, normalize,
 * WAL, reference prices, publish). See docs/quotes.md.
 *
 * The two callbacks handed to the feed do only: read the monotonic clock, write the raw payload into the
 * ring, and, if no worker turn is pending, schedule one. Worker turns process at most `drainBatchSize`
 * quotes and then yield to the event loop, so pending broker I/O (the next callbacks) runs between turns.
 */
export class QuoteIngress {
  readonly book = new ReferencePriceBook();
  readonly publisher: QuotePublisher;
  readonly ring: QuoteRing;
  private readonly clock: Clock;
  private readonly schedule: TurnScheduler;
  private readonly logger: Logger;
  private readonly metrics: QuoteMetrics;
  private readonly processor: QuoteProcessor;
  private readonly slot: RawSlot = { topic: 0, payload: '', symbolId: -1, recvMonoMs: 0, ingressSeq: 0 };
  private turnPending = false;
  private haltReported = false;
  private idleWaiters: (() => void)[] = [];
  private haltListeners: ((err: GatewayError) => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private started = false;

  /** The tick callback handed to the feed (bound once; no closure per quote). */
  readonly onTick: QuoteCallback = (payload, symbolId) => {
    if (this.ring.push(TOPIC_TICK, payload, symbolId, this.clock.monoMs())) this.wake();
    else if (this.ring.halted && !this.haltReported) this.noticeHalt();
  };

  /** The bid/ask callback handed to the feed. */
  readonly onBidAsk: QuoteCallback = (payload, symbolId) => {
    if (this.ring.push(TOPIC_BIDASK, payload, symbolId, this.clock.monoMs())) this.wake();
    else if (this.ring.halted && !this.haltReported) this.noticeHalt();
  };

  constructor(
    private readonly config: QuotesConfig,
    private readonly deps: QuoteIngressDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.schedule = deps.scheduler ?? defaultScheduler;
    this.logger = deps.logger.child({ component: 'quotes' });
    this.ring = new QuoteRing(config.queueCapacity, config.overflowPolicy, config.symbols.length);
    const override = config.schema.override;
    const validator = new QuoteValidator({
      maxPayloadBytes: config.maxPayloadBytes,
      acceptVersions: override.enabled ? override.acceptVersions : [],
      acceptUnknownFields: override.enabled && override.acceptUnknownFields,
    });
    this.metrics = new QuoteMetrics(
      deps.registry,
      this.ring,
      config.overflowPolicy,
      config.symbols,
      () => this.book.oldestAgeMs(this.clock.monoMs()),
      () => validator.slowPath,
    );
    this.publisher = new QuotePublisher((err) => {
      this.metrics.publishErrors.inc();
      this.logger.error({ event: 'quote_subscriber_failed', err }, 'a quote subscriber threw');
    });
    this.processor = new QuoteProcessor({
      validator,
      recorder: deps.recorder,
      publisher: this.publisher,
      book: this.book,
      metrics: this.metrics,
      logger: this.logger,
      clock: this.clock,
      symbols: config.symbols,
      rejectLog: config.rejectLog,
    });
  }

  /**
   * Start-up: refuses a feed announcing a schema version the lock does not accept (GW_ERR_CONFIG_INVALID),
   * announces an enabled override, registers the callbacks and subscribes the configured symbols.
   */
  async start(): Promise<void> {
    if (this.started) return;
    const override = this.config.schema.override;
    const announced = this.deps.feed.quoteVersion;
    if (
      announced !== undefined &&
      announced !== QUOTE_VERSION_V1 &&
      !(override.enabled && override.acceptVersions.includes(announced))
    ) {
      throw new GatewayError(
        'GW_ERR_CONFIG_INVALID',
        `quote feed announces schema ${announced}; locked to v1`,
        {
          announced,
        },
      );
    }
    this.started = true;
    this.metrics.overrideActive.set(override.enabled ? 1 : 0);
    if (override.enabled) {
      this.announceOverride();
      const timer = setInterval(() => this.announceOverride(), override.logIntervalMs);
      timer.unref();
      this.timers.push(timer);
    }
    const logTimer = setInterval(() => this.processor.flushLogs(), this.config.rejectLog.intervalMs);
    logTimer.unref();
    this.timers.push(logTimer);
    this.deps.feed.onTick(this.onTick);
    this.deps.feed.onBidAsk(this.onBidAsk);
    await this.deps.feed.subscribe(this.config.symbols, this.config.topics);
    this.logger.info(
      {
        event: 'quote_ingress_started',
        symbols: this.config.symbols.length,
        topics: this.config.topics,
        queue_capacity: this.config.queueCapacity,
        overflow_policy: this.config.overflowPolicy,
      },
      'quote ingress started',
    );
  }

  /** Resolves once the queue is empty and no worker turn is pending. */
  idle(): Promise<void> {
    if (this.ring.depth === 0 && !this.turnPending) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Called with GW_ERR_QUOTE_QUEUE_HALTED when the halt policy stops ingress. */
  onHalt(listener: (err: GatewayError) => void): void {
    this.haltListeners.push(listener);
  }

  /** Throws GW_ERR_QUOTE_QUEUE_HALTED while halted (readiness checks, the collar's caller). */
  assertFlowing(): void {
    if (this.ring.halted) throw this.haltError();
  }

  /** Operator action after a halt (admin API, quote-admin.ts): accept quotes again. False if not halted. */
  resume(reason = 'operator'): boolean {
    if (!this.ring.halted) return false;
    this.ring.resume();
    this.haltReported = false;
    this.logger.warn({ event: 'quote_queue_resumed', reason }, 'quote queue resumed after halt');
    return true;
  }

  /** What an operator needs to decide on a resume (GET /admin/quotes/status). */
  status(): QuoteIngressStatus {
    return {
      halted: this.ring.halted,
      overflow_policy: this.config.overflowPolicy,
      queue_depth: this.ring.depth,
      queue_capacity: this.ring.capacity,
      dropped_tick: this.ring.droppedByTopic[TOPIC_TICK] as number,
      dropped_bidask: this.ring.droppedByTopic[TOPIC_BIDASK] as number,
    };
  }

  /**
   * The reference price and its age per subscribed symbol (GET /admin/quotes/references): what the
   * collar is centred on now. `null` for a symbol without a price yet.
   */
  references(): Record<string, { price: number; age_ms: number } | null> {
    const now = this.clock.monoMs();
    const out: Record<string, { price: number; age_ms: number } | null> = {};
    for (const symbol of this.config.symbols) {
      const ref = this.book.get(symbol);
      out[symbol] = ref === undefined ? null : { price: ref.price, age_ms: Math.floor(now - ref.monoMs) };
    }
    return out;
  }

  /** Stops timers. The feed's lifetime belongs to its owner; queued quotes are left unprocessed. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.processor.flushLogs();
  }

  private wake(): void {
    if (this.turnPending) return;
    this.turnPending = true;
    this.schedule(this.turn);
  }

  /** One worker turn: up to `drainBatchSize` quotes, then yield (reschedule) if more are queued. */
  private readonly turn = (): void => {
    this.turnPending = false;
    const batch = this.config.drainBatchSize;
    const slot = this.slot;
    let firstRecvMonoMs = -1;
    for (let n = 0; n < batch && this.ring.shift(slot); n++) {
      if (n === 0) firstRecvMonoMs = slot.recvMonoMs;
      try {
        this.processor.process(slot);
      } catch (err) {
        this.metrics.workerErrors.inc();
        this.logger.error(
          { event: 'quote_worker_error', err, ingress_seq: slot.ingressSeq },
          'quote worker failed',
        );
      }
    }
    slot.payload = '';
    if (firstRecvMonoMs >= 0) {
      // One clock read per turn: the turn's first quote is its oldest, and now is after its last, so
      // this bounds every quote's receive → processed delay in the turn from above.
      const lag = this.clock.monoMs() - firstRecvMonoMs;
      if (lag > this.metrics.maxLagMs) this.metrics.maxLagMs = lag;
    }
    if (this.ring.depth > 0) {
      this.wake();
    } else if (this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  /** First refused push under `halt`: report off the callback path (the broker thread never sees it). */
  private noticeHalt(): void {
    this.haltReported = true;
    setImmediate(() => {
      const err = this.haltError();
      this.logger.error(
        { event: 'quote_queue_halted', err },
        'quote queue full under the halt policy; ingress stopped',
      );
      for (const listener of this.haltListeners) listener(err);
    });
  }

  private haltError(): GatewayError {
    return new GatewayError('GW_ERR_QUOTE_QUEUE_HALTED', `queue of ${this.ring.capacity} full`, {
      capacity: this.ring.capacity,
      dropped_tick: this.ring.droppedByTopic[TOPIC_TICK],
      dropped_bidask: this.ring.droppedByTopic[TOPIC_BIDASK],
    });
  }

  private announceOverride(): void {
    const o = this.config.schema.override;
    this.logger.error(
      {
        event: 'quote_schema_override_active',
        reason: o.reason,
        accept_unknown_fields: o.acceptUnknownFields,
        accept_versions: o.acceptVersions,
        runbook: 'runbooks/quote-schema.md',
      },
      'EMERGENCY quote schema override is ON: quotes outside strict v1 are being accepted',
    );
  }
}
