import { type Socket, connect } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { QuotesConfig, QuoteTopic } from './config.js';
import { LineDecoder } from './line-decoder.js';
import type { QuoteCallback, QuoteFeed } from './quote-feed.js';

export type FeedConnectionState = 'idle' | 'connecting' | 'connected' | 'closed';

export interface TcpQuoteFeedDeps {
  readonly logger: Logger;
  readonly registry: Registry;
  /** Longest line accepted (the ingress's maxPayloadBytes plus the framing). */
  readonly maxLineBytes: number;
}

/**
 * A `QuoteFeed` over TCP: connects to a feed server (feed-server.ts), sends one
 * `subscribe\t<sym,sym,…>\t<topic,topic>\n` line, then reads the `<topic>\t<symbolId>\t<envelope>\n`
 * stream (LineDecoder), where `symbolId` is the index in *this* subscription, so per-symbol counters
 * stay right whatever the server simulates. Chunks go to the ingress callbacks straight from the socket's
 * data event: the callback is enqueue-only, so reading the socket is the whole cost here.
 *
 * Never fails the process: `subscribe` returns at once and the connection is made in the background.
 * A refused or lost connection is retried after `reconnectInitialMs`, doubling per failed attempt up to
 * `reconnectMaxMs`, reset once connected. Without a connection no quotes arrive, reference prices age,
 * and the risk engine's staleness bound rejects (RISK_REFERENCE_STALE): the fail-safe is in risk, not
 * here. The state is exported (`hft_quote_feed_connected`) and in `/health/ready` detail.
 */
export class TcpQuoteFeed implements QuoteFeed {
  private readonly decoder: LineDecoder;
  private readonly logger: Logger;
  private socket: Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private subscription = '';
  private stateNow: FeedConnectionState = 'idle';
  private readonly connects: Counter;
  private readonly disconnects: Counter;

  constructor(
    private readonly config: QuotesConfig['feed'],
    deps: TcpQuoteFeedDeps,
  ) {
    this.decoder = new LineDecoder(deps.maxLineBytes);
    this.logger = deps.logger.child({ component: 'quote-feed' });
    const registers = [deps.registry];
    const self = this;
    new Gauge({
      name: 'hft_quote_feed_connected',
      help: '1 while the quote feed connection is up and subscribed',
      registers,
      collect() {
        this.set(self.stateNow === 'connected' ? 1 : 0);
      },
    });
    this.connects = new Counter({
      name: 'hft_quote_feed_connects_total',
      help: 'Quote feed connections established (the first one and every reconnect)',
      registers,
    });
    this.disconnects = new Counter({
      name: 'hft_quote_feed_disconnects_total',
      help: 'Quote feed connections lost or refused (each is followed by a reconnect after backoff)',
      registers,
    });
    new Counter({
      name: 'hft_quote_feed_malformed_lines_total',
      help: 'Feed lines that were not <topic>\\t<symbolId>\\t<payload>, or longer than the payload bound',
      registers,
      collect() {
        // The decoder's count is the source; copied at scrape time, as the ring's counters are.
        this.reset();
        this.inc(self.decoder.malformedLines);
      },
    });
  }

  get state(): FeedConnectionState {
    return this.stateNow;
  }

  get endpoint(): string {
    return `${this.config.host}:${this.config.port}`;
  }

  get malformedLines(): number {
    return this.decoder.malformedLines;
  }

  async subscribe(symbols: readonly string[], topics: readonly QuoteTopic[]): Promise<void> {
    this.decoder.setTopics(topics);
    this.subscription = `subscribe\t${symbols.join(',')}\t${topics.join(',')}\n`;
    if (this.stateNow === 'idle') this.connect();
  }

  onTick(callback: QuoteCallback): void {
    this.decoder.tick = callback;
  }

  onBidAsk(callback: QuoteCallback): void {
    this.decoder.bidAsk = callback;
  }

  /** Stops reconnecting and closes the connection; no callback runs after this resolves. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.destroy();
      await closed;
    }
  }

  private connect(): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'connecting';
    this.decoder.reset();
    const socket = connect({ host: this.config.host, port: this.config.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.config.connectTimeoutMs, () => socket.destroy(new Error('connect timeout')));
    let lastError: Error | undefined;
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.write(this.subscription);
      this.stateNow = 'connected';
      this.failures = 0;
      this.connects.inc();
      this.logger.info({ event: 'quote_feed_connected', endpoint: this.endpoint }, 'quote feed connected');
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.decoder.push(chunk);
    });
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.once('close', () => {
      if (this.socket !== socket) return; // closed by close(), or superseded
      this.socket = undefined;
      const wasConnected = this.stateNow === 'connected';
      this.disconnects.inc();
      const delay = Math.min(
        this.config.reconnectMaxMs,
        this.config.reconnectInitialMs * 2 ** Math.min(this.failures, 20),
      );
      this.failures++;
      // A lost connection is worth a warning; repeated refusals while the feed is down are logged at
      // info, once per attempt at the capped rate, so an absent feed does not flood the log.
      const level = wasConnected ? 'warn' : 'info';
      this.logger[level](
        {
          event: wasConnected ? 'quote_feed_lost' : 'quote_feed_unreachable',
          endpoint: this.endpoint,
          err: lastError?.message,
          retry_in_ms: delay,
        },
        wasConnected ? 'quote feed connection lost; reconnecting' : 'quote feed unreachable; retrying',
      );
      this.stateNow = 'connecting';
      this.retryTimer = setTimeout(() => this.connect(), delay);
      this.retryTimer.unref();
    });
  }
}
