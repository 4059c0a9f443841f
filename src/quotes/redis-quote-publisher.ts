import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type Clock, systemClock } from '../clock.js';
import type { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import type { QuotesConfig } from './config.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import type { QuoteListener } from './quote-publisher.js';
import type { NormalizedQuote } from './quote-schema-v1.js';

export interface RedisQuotePublisherDeps {
  /**
   * A fail-fast connection (`connectRedis`: no offline queue, reconnects on its own). The owner opens and
   * closes it; the publisher only sends on it while it is ready.
   */
  readonly redis: Redis;
  readonly keys: Keyspace;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly clock?: Clock;
}

const TOPICS = ['tick', 'bidask'] as const;
/** While Redis is not ready, how often to look again (quotes keep buffering, bounded, meanwhile). */
const DOWN_RETRY_MS = 100;

/**
 * Fans validated quotes out to strategy workers through one capped Redis stream per topic
 * (`Keyspace.quoteStream`). Subscribed to the ingress's in-process publisher, so it runs in the quote
 * worker turn; its `listener` only appends the quote to a bounded in-memory batch and returns. The
 * network work happens in its own event-loop turns: every `flushIntervalMs` (or at once when a batch is
 * full) one pipeline writes every buffered batch as one `XADD key MAXLEN ~ maxLen * n <count> quotes
 * <JSON array>` entry each. At most one pipeline is in flight.
 *
 * Bounded everywhere, never blocking: buffered quotes are capped at `maxBufferedQuotes` (the oldest
 * batch is dropped past that, counted `buffer_full`); while Redis is down nothing is sent and the
 * buffer keeps the newest quotes; a failed pipeline's quotes are dropped, counted `redis_error` (a quote
 * is worth little once stale, and a retry queue would be one more thing to bound). The stream holds at
 * most about `maxLen` batches; a consumer that falls further behind misses the trimmed ones, and sees the
 * gap in `ingress_seq`.
 */
export class RedisQuotePublisher {
  /** Hand this to `QuoteIngress.publisher.subscribe`. */
  readonly listener: QuoteListener = (quote) => this.add(quote);
  /** Per topic: batches waiting to be sent, oldest first; only the last one is still filling. */
  private readonly pending: NormalizedQuote[][][] = [[], []];
  private readonly streams: readonly string[];
  private readonly published: Counter.Internal[];
  private readonly dropped: Counter<'reason'>;
  private readonly logLimiter: LogRateLimiter;
  private buffered = 0;
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: QuotesConfig['publish'],
    private readonly deps: RedisQuotePublisherDeps,
  ) {
    this.streams = TOPICS.map((t) => deps.keys.quoteStream(t));
    const registers = [deps.registry];
    const publishedTotal = new Counter({
      name: 'hft_quote_redis_published_total',
      help: 'Quotes written to the strategy-worker Redis streams, by topic',
      labelNames: ['topic'],
      registers,
    });
    this.published = TOPICS.map((t) => publishedTotal.labels(t));
    this.dropped = new Counter({
      name: 'hft_quote_redis_dropped_total',
      help: 'Quotes not published to Redis: buffer_full (Redis slow or down), redis_error (a failed write), closed',
      labelNames: ['reason'],
      registers,
    });
    const self = this;
    new Gauge({
      name: 'hft_quote_redis_buffered',
      help: 'Quotes waiting to be published to Redis',
      registers,
      collect() {
        this.set(self.buffered);
      },
    });
    this.logLimiter = new LogRateLimiter(1, 10_000, deps.clock ?? systemClock);
  }

  /** Quotes waiting to be sent. */
  get bufferedQuotes(): number {
    return this.buffered;
  }

  private add(quote: NormalizedQuote): void {
    if (this.closed) {
      this.dropped.inc({ reason: 'closed' });
      return;
    }
    const batches = this.pending[quote.kind === 'stock_bidask' ? 1 : 0] as NormalizedQuote[][];
    let last = batches[batches.length - 1];
    if (last === undefined || last.length >= this.config.batchMaxQuotes) {
      last = [];
      batches.push(last);
    }
    last.push(quote);
    this.buffered++;
    if (this.buffered > this.config.maxBufferedQuotes) this.dropOldestBatch();
    this.schedule(last.length >= this.config.batchMaxQuotes);
  }

  /** Sends what is buffered now (if Redis is ready) and resolves when that write has finished. */
  async flush(): Promise<void> {
    await this.sending;
    this.sending = this.send();
    await this.sending;
  }

  /** Stops accepting quotes, makes one last attempt to send the buffer, counts what is left as dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    await this.flush();
    if (this.buffered > 0) {
      this.dropped.inc({ reason: 'closed' }, this.buffered);
      this.pending[0] = [];
      this.pending[1] = [];
      this.buffered = 0;
    }
  }

  private schedule(now: boolean): void {
    if (this.immediate !== undefined) return;
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(this.onTurn);
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.onTurn, this.config.flushIntervalMs);
      this.timer.unref();
    }
  }

  private readonly onTurn = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.inFlight) return; // the write in flight reschedules when it ends
    this.sending = this.send();
  };

  private async send(): Promise<void> {
    if (this.buffered === 0 || this.inFlight) return;
    const { redis } = this.deps;
    if (redis.status !== 'ready') {
      // Down or reconnecting: keep the newest quotes (bounded) and look again shortly.
      if (!this.closed && this.timer === undefined) {
        this.timer = setTimeout(this.onTurn, DOWN_RETRY_MS);
        this.timer.unref();
      }
      return;
    }
    const pipeline = redis.pipeline();
    const counts = [0, 0];
    for (let t = 0; t < TOPICS.length; t++) {
      const batches = this.pending[t] as NormalizedQuote[][];
      for (const batch of batches) {
        pipeline.xadd(
          this.streams[t] as string,
          'MAXLEN',
          '~',
          this.config.maxLen,
          '*',
          'n',
          batch.length,
          'quotes',
          JSON.stringify(batch),
        );
        counts[t] = (counts[t] as number) + batch.length;
      }
      this.pending[t] = [];
    }
    this.buffered = 0;
    this.inFlight = true;
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err !== null);
      if (failed) throw failed[0];
      for (let t = 0; t < TOPICS.length; t++) this.published[t]?.inc(counts[t]);
    } catch (err) {
      // Some entries of a failed pipeline may have landed; counting all as dropped errs on the safe side.
      this.dropped.inc({ reason: 'redis_error' }, (counts[0] as number) + (counts[1] as number));
      if (this.logLimiter.allow(() => {})) {
        this.deps.logger.warn(
          { event: 'quote_redis_publish_failed', err, quotes: (counts[0] as number) + (counts[1] as number) },
          'publishing quotes to Redis failed; dropped (counted)',
        );
      }
    } finally {
      this.inFlight = false;
      if (this.buffered > 0 && !this.closed) this.schedule(this.hasFullBatch());
    }
  }

  private hasFullBatch(): boolean {
    return this.pending.some((batches) => batches.length > 1);
  }

  /** Past the bound: drop the oldest batch of the topic holding the most quotes. */
  private dropOldestBatch(): void {
    const t = this.queued(0) >= this.queued(1) ? 0 : 1;
    const oldest = (this.pending[t] as NormalizedQuote[][]).shift();
    if (oldest === undefined) return;
    this.buffered -= oldest.length;
    this.dropped.inc({ reason: 'buffer_full' }, oldest.length);
  }

  private queued(t: number): number {
    let n = 0;
    for (const batch of this.pending[t] as NormalizedQuote[][]) n += batch.length;
    return n;
  }
}
