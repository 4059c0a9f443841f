import { Counter, Gauge, type Registry } from 'prom-client';
import type { OverflowPolicy } from './config.js';
import { type QuoteRing, TOPIC_NAMES } from './quote-ring.js';
import { QUOTE_KINDS } from './quote-schema-v1.js';

/**
 * Quote ingress metrics. The callback path never touches prom-client: the ring keeps plain counters in
 * typed arrays and these metrics copy them at scrape time (`collect`). So does the per-quote processed
 * count (a labelled prom-client increment hashes its labels: measured ≈ 4 % of a quote's worker time);
 * rarer worker-side events (rejects, WAL refusals) are counted directly.
 */
export class QuoteMetrics {
  readonly schemaRejects: Counter<'reason'>;
  /** Processed quotes per kind (QUOTE_KINDS order): plain cells, copied into prom-client at scrape. */
  readonly processedByKind = new Float64Array(QUOTE_KINDS.length);
  readonly overrideAccepted: Counter<'use'>;
  readonly overrideActive: Gauge;
  readonly walRefused: Counter<'code'>;
  readonly publishErrors: Counter;
  readonly rejectLogsSuppressed: Counter;
  readonly workerErrors: Counter;
  /** Largest receive → processed delay seen since the last scrape, in ms. */
  maxLagMs = 0;

  constructor(
    registry: Registry,
    ring: QuoteRing,
    policy: OverflowPolicy,
    symbols: readonly string[],
    oldestReferenceAgeMs: () => number,
    slowPathQuotes: () => number,
  ) {
    const registers = [registry];
    new Counter({
      name: 'hft_quote_enqueued_total',
      help: 'Quotes the broker callback queued, by topic',
      labelNames: ['topic'],
      registers,
      collect() {
        this.reset();
        for (const [i, topic] of TOPIC_NAMES.entries())
          this.inc({ topic }, ring.enqueuedByTopic[i] as number);
      },
    });
    new Counter({
      name: 'hft_quote_dropped_total',
      help: 'Quotes lost to a full queue (evicted, refused, or refused while halted), by topic and policy',
      labelNames: ['topic', 'policy'],
      registers,
      collect() {
        this.reset();
        for (const [i, topic] of TOPIC_NAMES.entries()) {
          this.inc({ topic, policy }, ring.droppedByTopic[i] as number);
        }
      },
    });
    new Counter({
      name: 'hft_quote_dropped_by_symbol_total',
      help: 'Quotes lost to a full queue by subscribed symbol ("unknown" when the feed gave no symbol id)',
      labelNames: ['symbol'],
      registers,
      collect() {
        this.reset();
        const counts = ring.droppedBySymbol;
        if ((counts[0] as number) > 0) this.inc({ symbol: 'unknown' }, counts[0] as number);
        for (let i = 1; i < counts.length; i++) {
          if ((counts[i] as number) > 0) this.inc({ symbol: symbols[i - 1] as string }, counts[i] as number);
        }
      },
    });
    new Gauge({
      name: 'hft_quote_queue_depth',
      help: 'Quotes waiting in the ingress queue',
      registers,
      collect() {
        this.set(ring.depth);
      },
    });
    new Gauge({
      name: 'hft_quote_queue_depth_max',
      help: 'Deepest the ingress queue was since the previous scrape',
      registers,
      collect() {
        this.set(ring.takeMaxDepth());
      },
    });
    new Gauge({
      name: 'hft_quote_queue_capacity',
      help: 'Slots in the ingress queue',
      registers,
      collect() {
        this.set(ring.capacity);
      },
    });
    new Gauge({
      name: 'hft_quote_queue_halted',
      help: '1 while the queue is halted under the halt overflow policy (GW_ERR_QUOTE_QUEUE_HALTED)',
      registers,
      collect() {
        this.set(ring.halted ? 1 : 0);
      },
    });
    const self = this;
    new Gauge({
      name: 'hft_quote_ingress_lag_max_ms',
      help: 'Largest callback receive → worker processed delay since the previous scrape, ms',
      registers,
      collect() {
        this.set(self.maxLagMs);
        self.maxLagMs = 0;
      },
    });
    new Gauge({
      name: 'hft_quote_reference_age_max_ms',
      help: 'Age of the oldest reference price kept (0 when none), ms',
      registers,
      collect() {
        this.set(oldestReferenceAgeMs());
      },
    });
    new Counter({
      name: 'hft_quote_validator_slow_path_total',
      help: 'Quotes the one-pass scanner handed to the JSON.parse reference validator (rejects, escapes, unusual number forms, override cases)',
      registers,
      collect() {
        this.reset();
        this.inc(slowPathQuotes());
      },
    });
    this.schemaRejects = new Counter({
      name: 'hft_quote_schema_reject_total',
      help: 'Quotes rejected by the schema v1 lock, by reason code',
      labelNames: ['reason'],
      registers,
    });
    const processedByKind = this.processedByKind;
    new Counter({
      name: 'hft_quote_processed_total',
      help: 'Quotes validated, normalized and published, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [i, kind] of QUOTE_KINDS.entries()) this.inc({ kind }, processedByKind[i] as number);
      },
    });
    this.overrideAccepted = new Counter({
      name: 'hft_quote_schema_override_accepted_total',
      help: 'Quotes accepted only because the emergency schema override is on, by what it allowed',
      labelNames: ['use'],
      registers,
    });
    this.overrideActive = new Gauge({
      name: 'hft_quote_schema_override_active',
      help: '1 while the emergency quote schema override is enabled',
      registers,
    });
    this.walRefused = new Counter({
      name: 'hft_quote_wal_refused_total',
      help: 'Valid quotes the WAL refused or dropped (still published), by code',
      labelNames: ['code'],
      registers,
    });
    this.publishErrors = new Counter({
      name: 'hft_quote_publish_errors_total',
      help: 'Quote subscribers that threw while handling a quote',
      registers,
    });
    this.rejectLogsSuppressed = new Counter({
      name: 'hft_quote_reject_logs_suppressed_total',
      help: 'Schema-reject log records suppressed by the log rate limit (the rejects are still counted)',
      registers,
    });
    this.workerErrors = new Counter({
      name: 'hft_quote_worker_errors_total',
      help: 'Unexpected errors while processing a dequeued quote (a bug; the quote is lost)',
      registers,
    });
  }
}
