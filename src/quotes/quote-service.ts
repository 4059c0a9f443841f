import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import type { OpsServer, Readiness } from '../ops/server.js';
import { connectRedis } from '../redis/connect.js';
import type { EventRecorder } from '../wal/recorder.js';
import { registerQuoteAdmin } from './quote-admin.js';
import { QuoteIngress } from './quote-ingress.js';
import { RedisQuotePublisher } from './redis-quote-publisher.js';
import { ReferencePriceBook } from './reference-price-book.js';
import { TcpQuoteFeed } from './tcp-quote-feed.js';

/** Room for `<topic>\t<symbolId>\t` around a payload of `maxPayloadBytes`. */
const FRAMING_BYTES = 64;

export interface QuoteServiceDeps {
  readonly recorder: EventRecorder;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * Quote ingress as a gateway process runs it (`quotes.feed.enabled`): TcpQuoteFeed → QuoteIngress
 * (ring, schema v1, WAL `market.tick`/`market.bidask` on the process's recorder) → the reference prices
 * the risk engine's collar reads (`book`), and, with `quotes.publish.enabled`, the strategy-worker streams
 * (RedisQuotePublisher on a connection of its own). With the feed off, `book` stays empty and the rest
 * is inert, as before. See docs/quotes.md "In the gateway process".
 */
export class QuoteService {
  /** The reference prices to hand to the risk engine: the ingress's book, or an empty one. */
  readonly book: ReferencePriceBook;
  readonly ingress: QuoteIngress | undefined;
  readonly feed: TcpQuoteFeed | undefined;
  private redis: Redis | undefined;
  private redisPublisher: RedisQuotePublisher | undefined;
  private started = false;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly deps: QuoteServiceDeps,
  ) {
    const quotes = config.quotes;
    if (!quotes.feed.enabled) {
      this.book = new ReferencePriceBook();
      return;
    }
    this.feed = new TcpQuoteFeed(quotes.feed, {
      logger: deps.logger,
      registry: deps.registry,
      maxLineBytes: quotes.maxPayloadBytes + FRAMING_BYTES,
    });
    this.ingress = new QuoteIngress(quotes, {
      feed: this.feed,
      recorder: deps.recorder,
      logger: deps.logger,
      registry: deps.registry,
    });
    this.book = this.ingress.book;
  }

  /** Mounts GET /admin/quotes/status and POST /admin/quotes/resume (before the ops server listens). */
  registerAdmin(ops: OpsServer): void {
    if (this.ingress) registerQuoteAdmin(ops, this.ingress);
  }

  /** The feed's state in readiness detail. Never makes the process unready: staleness is risk's call. */
  readiness(base: Readiness): Readiness {
    if (!this.feed) return base;
    return {
      ready: base.ready,
      detail: { ...base.detail, quote_feed: { endpoint: this.feed.endpoint, state: this.feed.state } },
    };
  }

  /**
   * Opens the publisher's Redis connection (when publishing) and starts the ingress, which subscribes
   * and connects the feed in the background: an absent feed does not delay or fail start-up.
   */
  async start(): Promise<void> {
    if (!this.ingress || this.started) return;
    this.started = true;
    const { quotes, redis, processId } = this.config;
    if (quotes.publish.enabled) {
      this.redis = await connectRedis({
        url: quotes.publish.redisUrl ?? redis.stateUrl,
        name: `${processId}:quotes`,
        commandTimeoutMs: redis.commandTimeoutMs,
        connectTimeoutMs: redis.connectTimeoutMs,
      });
      this.redisPublisher = new RedisQuotePublisher(quotes.publish, {
        redis: this.redis,
        keys: new Keyspace(redis.keyPrefix),
        registry: this.deps.registry,
        logger: this.deps.logger,
      });
      this.ingress.publisher.subscribe(this.redisPublisher.listener);
    }
    await this.ingress.start();
  }

  /**
   * Stops the feed (no more callbacks), drains the queued quotes through the workers (so they reach the
   * recorder, which the caller closes afterwards), then flushes the publisher and closes its connection.
   */
  async stop(): Promise<void> {
    if (!this.ingress || !this.started) return;
    this.started = false;
    await this.feed?.close();
    await this.ingress.idle();
    this.ingress.close();
    await this.redisPublisher?.close();
    this.redis?.disconnect();
  }
}
