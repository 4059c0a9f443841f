import type { Clock } from '../clock.js';
import { isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventRecorder, WalTopic } from '../wal/recorder.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import type { QuoteMetrics } from './quote-metrics.js';
import { JsonPayload } from '../wal/json-payload.js';
import { buildQuoteJson } from './quote-json.js';
import type { QuotePublisher } from './quote-publisher.js';
import { type RawSlot, TOPIC_NAMES } from './quote-ring.js';
import { QUOTE_KINDS, type QuoteKind } from './quote-schema-v1.js';
import type { QuoteValidator } from './quote-validator.js';
import type { ReferencePriceBook } from './reference-price-book.js';

const WAL_TOPIC: readonly WalTopic[] = ['market.tick', 'market.bidask'];

export interface ProcessorParts {
  readonly validator: QuoteValidator;
  readonly recorder: EventRecorder;
  readonly publisher: QuotePublisher;
  readonly book: ReferencePriceBook;
  readonly metrics: QuoteMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly symbols: readonly string[];
  readonly rejectLog: { readonly maxPerInterval: number; readonly intervalMs: number };
}

/**
 * What a quote worker does with one dequeued raw quote: validate against schema v1 and normalize
 * (QuoteValidator), record to the WAL, keep the reference price, publish. Rejects are counted by reason
 * and logged through a rate limiter; a WAL refusal is counted and the quote still updates the reference
 * price and is published (the collar needs fresh prices more than the archive needs every tick).
 */
export class QuoteProcessor {
  /** Wall-clock anchor of the monotonic clock, split so the per-quote sum needs no BigInt. */
  private readonly anchorMs: number;
  private readonly anchorSubMsNs: number;
  private readonly rejectLimiter: LogRateLimiter;
  private readonly walLimiter: LogRateLimiter;
  /** The book keeps subscribed symbols only, so a feed sending other codes cannot grow it without bound. */
  private readonly subscribed: ReadonlySet<string>;
  /**
   * Set when the recorder takes pre-serialized JSON (the WalWriter does): the normalized quote is then
   * written as its JSON bytes here and recorded without a second serialization inside the recorder.
   */
  private readonly json: JsonPayload | null;
  private readonly kindIndex: Readonly<Record<QuoteKind, number>> = {
    stock_tick: QUOTE_KINDS.indexOf('stock_tick'),
    stock_bidask: QUOTE_KINDS.indexOf('stock_bidask'),
    fop_tick: QUOTE_KINDS.indexOf('fop_tick'),
  };

  constructor(private readonly parts: ProcessorParts) {
    const { clock } = parts;
    // Receive stamps are monotonic ms (allocation-free on the callback); wall time is derived here as
    // anchor + mono, the same construction the Clock uses, so it never steps backwards.
    const anchorNs = clock.wallNs() - BigInt(Math.round(clock.monoMs() * 1e6));
    this.anchorMs = Number(anchorNs / 1_000_000n);
    this.anchorSubMsNs = Number(anchorNs % 1_000_000n);
    this.rejectLimiter = new LogRateLimiter(
      parts.rejectLog.maxPerInterval,
      parts.rejectLog.intervalMs,
      clock,
    );
    this.walLimiter = new LogRateLimiter(parts.rejectLog.maxPerInterval, parts.rejectLog.intervalMs, clock);
    this.subscribed = new Set(parts.symbols);
    this.json = parts.recorder.recordJson ? new JsonPayload() : null;
  }

  /**
   * Wall-clock ns (decimal text) of a monotonic receive stamp: anchor + mono, computed as whole ms and
   * the ns within the ms in plain numbers (each stays far below 2^53), the same digits as the BigInt sum
   * (test/quotes/recv-ts.test.ts) without a BigInt per quote.
   */
  recvTsNs(recvMonoMs: number): string {
    const monoNs = Math.round(recvMonoMs * 1e6);
    const monoSubMsNs = monoNs % 1_000_000;
    let ms = this.anchorMs + (monoNs - monoSubMsNs) / 1_000_000;
    let subMsNs = this.anchorSubMsNs + monoSubMsNs;
    if (subMsNs >= 1_000_000) {
      subMsNs -= 1_000_000;
      ms += 1;
    }
    return `${ms}${String(subMsNs + 1_000_000).slice(1)}`;
  }

  process(slot: RawSlot): void {
    const { validator, metrics, recorder, book, publisher } = this.parts;
    const topicName = TOPIC_NAMES[slot.topic] as 'tick' | 'bidask';
    const verdict = validator.validate(
      slot.payload,
      topicName,
      this.recvTsNs(slot.recvMonoMs),
      slot.ingressSeq,
    );
    if (!verdict.ok) {
      metrics.schemaRejects.inc({ reason: verdict.reason });
      if (!this.rejectLimiter.allow(this.suppressedSummary)) {
        metrics.rejectLogsSuppressed.inc();
      } else {
        this.parts.logger.warn(
          {
            event: 'quote_schema_reject',
            reason: verdict.reason,
            field: verdict.field,
            detail: verdict.detail,
            kind: verdict.kind,
            topic: topicName,
            symbol: this.parts.symbols[slot.symbolId],
            ingress_seq: slot.ingressSeq,
          },
          'quote rejected by schema v1',
        );
      }
      return;
    }
    const quote = verdict.quote;
    if (verdict.override !== null) metrics.overrideAccepted.inc({ use: verdict.override });
    try {
      const topic = WAL_TOPIC[slot.topic] as WalTopic;
      const json = this.json === null ? null : buildQuoteJson(this.json, quote);
      // recordJson exists whenever `json` was made; a quote the payload cannot hold goes as an object.
      const seq =
        json !== null && json.size >= 0
          ? (recorder.recordJson as NonNullable<EventRecorder['recordJson']>).call(recorder, topic, json)
          : recorder.record(topic, quote);
      if (seq < 0) metrics.walRefused.inc({ code: 'dropped' });
    } catch (err) {
      const code = isGatewayError(err) ? err.code : 'unexpected';
      metrics.walRefused.inc({ code });
      if (this.walLimiter.allow(() => {})) {
        this.parts.logger.error({ event: 'quote_wal_refused', code, err }, 'WAL refused a quote');
      }
    }
    if (quote.kind !== 'stock_bidask' && quote.fields.simtrade === false && this.subscribed.has(quote.code)) {
      // Simulated (trial-match) trades during auctions are not trades: they never move the reference.
      book.update(quote.code, quote.fields.close as number, slot.recvMonoMs);
    }
    publisher.publish(quote);
    (metrics.processedByKind[this.kindIndex[quote.kind]] as number)++;
  }

  /** Writes the suppressed-rejects summary if the log window has elapsed (called on a timer too). */
  flushLogs(): void {
    this.rejectLimiter.roll(this.suppressedSummary);
  }

  private readonly suppressedSummary = (suppressed: number): void => {
    this.parts.logger.warn(
      { event: 'quote_schema_reject_suppressed', suppressed },
      'quote schema reject logs suppressed by the rate limit (rejects still counted)',
    );
  };
}
