import type { Readable } from 'node:stream';
import type { QuoteTopic } from './config.js';
import { LineDecoder } from './line-decoder.js';
import type { QuoteCallback, QuoteFeed } from './quote-feed.js';

/**
 * A `QuoteFeed` over a byte stream of `<topic>\t<symbolId>\t<envelope JSON>\n` lines: what the feed
 * simulator process writes to stdout (src/quotes/feed-sim.ts), and the shape a recorded-session replayer
 * would use. Framing only (LineDecoder). The symbol ids refer to the producer's symbol list, which must be
 * the list this feed is subscribed with. Over TCP with reconnects, see TcpQuoteFeed.
 */
export class LineStreamFeed implements QuoteFeed {
  private readonly decoder = new LineDecoder();

  constructor(
    private readonly input: Readable,
    readonly quoteVersion?: string,
  ) {}

  /** Lines that were not `<tick|bidask>\t<int>\t<payload>` (counted, never delivered). */
  get malformedLines(): number {
    return this.decoder.malformedLines;
  }

  async subscribe(_symbols: readonly string[], topics: readonly QuoteTopic[]): Promise<void> {
    this.decoder.setTopics(topics);
    this.input.on('data', (chunk: Buffer) => this.decoder.push(chunk));
  }

  onTick(callback: QuoteCallback): void {
    this.decoder.tick = callback;
  }

  onBidAsk(callback: QuoteCallback): void {
    this.decoder.bidAsk = callback;
  }

  /** Resolves when the input stream has ended (every complete line delivered). */
  ended(): Promise<void> {
    return new Promise((resolve) => {
      if (this.input.readableEnded) resolve();
      else this.input.once('end', () => resolve());
    });
  }
}
