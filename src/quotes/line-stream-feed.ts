import type { Readable } from 'node:stream';
import type { QuoteTopic } from './config.js';
import type { QuoteCallback, QuoteFeed } from './quote-feed.js';

const NEWLINE = 10;

/**
 * A `QuoteFeed` over a byte stream of `<topic>\t<symbolId>\t<envelope JSON>\n` lines: what the feed
 * simulator process writes (src/quotes/feed-sim.ts), and the shape a recorded-session replayer would
 * use. Framing only: it finds the newline and the two tabs and hands the envelope text, unparsed, to the
 * callback, as a broker SDK hands over a message. The symbol ids refer to the producer's symbol list,
 * which must be the list this feed is subscribed with.
 */
export class LineStreamFeed implements QuoteFeed {
  private tick: QuoteCallback | null = null;
  private bidAsk: QuoteCallback | null = null;
  private pending: Buffer | null = null;
  /** Lines that were not `<tick|bidask>\t<int>\t<payload>` (counted, never delivered). */
  malformedLines = 0;

  constructor(
    private readonly input: Readable,
    readonly quoteVersion?: string,
  ) {}

  async subscribe(_symbols: readonly string[], topics: readonly QuoteTopic[]): Promise<void> {
    const wantTick = topics.includes('tick');
    const wantBidAsk = topics.includes('bidask');
    this.input.on('data', (chunk: Buffer) => {
      let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      let start = 0;
      for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
        this.line(buf.toString('utf8', start, nl), wantTick, wantBidAsk);
        start = nl + 1;
      }
      buf = buf.subarray(start);
      this.pending = buf.length > 0 ? Buffer.from(buf) : null;
    });
  }

  onTick(callback: QuoteCallback): void {
    this.tick = callback;
  }

  onBidAsk(callback: QuoteCallback): void {
    this.bidAsk = callback;
  }

  /** Resolves when the input stream has ended (every complete line delivered). */
  ended(): Promise<void> {
    return new Promise((resolve) => {
      if (this.input.readableEnded) resolve();
      else this.input.once('end', () => resolve());
    });
  }

  private line(line: string, wantTick: boolean, wantBidAsk: boolean): void {
    const tab1 = line.indexOf('\t');
    const tab2 = tab1 < 0 ? -1 : line.indexOf('\t', tab1 + 1);
    if (tab2 < 0) {
      this.malformedLines++;
      return;
    }
    const topic = line.slice(0, tab1);
    const symbolId = Number.parseInt(line.slice(tab1 + 1, tab2), 10);
    const payload = line.slice(tab2 + 1);
    const id = Number.isSafeInteger(symbolId) ? symbolId : -1;
    if (topic === 'tick') {
      if (wantTick) this.tick?.(payload, id);
    } else if (topic === 'bidask') {
      if (wantBidAsk) this.bidAsk?.(payload, id);
    } else {
      this.malformedLines++;
    }
  }
}
