import type { Counter } from 'prom-client';
import type { Clock } from '../clock.js';
import { isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventRecorder, WalTopic } from '../wal/recorder.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import type { QuoteMetrics } from './quote-metrics.js';
import type { QuotePublisher } from './quote-publisher.js';
import { type RawSlot, TOPIC_NAMES } from './quote-ring.js';
import type { QuoteKind } from './quote-schema-v1.js';
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
  private readonly wallAnchorNs: bigint;
  private readonly rejectLimiter: LogRateLimiter;
  private readonly walLimiter: LogRateLimiter;
  /** Label-bound counter children, so the per-quote increment does not hash a label set. */
  private readonly processedByKind: Record<QuoteKind, Counter.Internal>;

  constructor(private readonly parts: ProcessorParts) {
    const { clock } = parts;
    // Receive stamps are monotonic ms (allocation-free on the callback); wall time is derived here as
    // anchor + mono, the same construction the Clock uses, so it never steps backwards.
    this.wallAnchorNs = clock.wallNs() - BigInt(Math.round(clock.monoMs() * 1e6));
    this.rejectLimiter = new LogRateLimiter(
      parts.rejectLog.maxPerInterval,
      parts.rejectLog.intervalMs,
      clock,
    );
    this.processedByKind = {
      stock_tick: parts.metrics.processed.labels('stock_tick'),
      stock_bidask: parts.metrics.processed.labels('stock_bidask'),
      fop_tick: parts.metrics.processed.labels('fop_tick'),
    };
    this.walLimiter = new LogRateLimiter(parts.rejectLog.maxPerInterval, parts.rejectLog.intervalMs, clock);
  }

  /** Wall-clock ns (decimal text) of a monotonic receive stamp. */
  recvTsNs(recvMonoMs: number): string {
    return (this.wallAnchorNs + BigInt(Math.round(recvMonoMs * 1e6))).toString();
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
      if (recorder.record(WAL_TOPIC[slot.topic] as WalTopic, quote) < 0)
        metrics.walRefused.inc({ code: 'dropped' });
    } catch (err) {
      const code = isGatewayError(err) ? err.code : 'unexpected';
      metrics.walRefused.inc({ code });
      if (this.walLimiter.allow(() => {})) {
        this.parts.logger.error({ event: 'quote_wal_refused', code, err }, 'WAL refused a quote');
      }
    }
    if (quote.kind !== 'stock_bidask' && quote.fields.simtrade === false) {
      // Simulated (trial-match) trades during auctions are not trades: they never move the reference.
      book.update(quote.code, quote.fields.close as number, slot.recvMonoMs);
    }
    publisher.publish(quote);
    this.processedByKind[quote.kind].inc();
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
