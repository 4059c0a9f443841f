import type { QuoteTopic } from './config.js';
import type { QuoteCallback } from './quote-feed.js';

const NEWLINE = 10;

/**
 * Framing of the quote line stream `<topic>\t<symbolId>\t<envelope JSON>\n` (feed-sim.ts writes it,
 * feed-server.ts serves it over TCP): finds the newline and the two tabs and hands the envelope text,
 * unparsed, to the topic's callback, as a broker SDK hands over a message. Bounded: an unfinished line
 * longer than `maxLineBytes` is discarded up to its newline and counted, so a peer that never sends a
 * newline cannot grow the carry-over buffer.
 */
export class LineDecoder {
  tick: QuoteCallback | null = null;
  bidAsk: QuoteCallback | null = null;
  wantTick = true;
  wantBidAsk = true;
  /** Lines that were not `<tick|bidask>\t<int>\t<payload>`, or too long (counted, never delivered). */
  malformedLines = 0;
  private pending: Buffer | null = null;
  private discarding = false;

  constructor(private readonly maxLineBytes = 1 << 20) {}

  setTopics(topics: readonly QuoteTopic[]): void {
    this.wantTick = topics.includes('tick');
    this.wantBidAsk = topics.includes('bidask');
  }

  push(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      if (this.discarding) this.discarding = false;
      else this.line(buf.toString('utf8', start, nl));
      start = nl + 1;
    }
    buf = buf.subarray(start);
    if (buf.length > this.maxLineBytes || (this.discarding && buf.length > 0)) {
      if (!this.discarding) this.malformedLines++;
      this.discarding = true;
      this.pending = null;
    } else {
      this.pending = buf.length > 0 ? Buffer.from(buf) : null;
    }
  }

  /** Forgets a partial line (its connection is gone; the next connection starts on a line boundary). */
  reset(): void {
    this.pending = null;
    this.discarding = false;
  }

  private line(line: string): void {
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
      if (this.wantTick) this.tick?.(payload, id);
    } else if (topic === 'bidask') {
      if (this.wantBidAsk) this.bidAsk?.(payload, id);
    } else {
      this.malformedLines++;
    }
  }
}
