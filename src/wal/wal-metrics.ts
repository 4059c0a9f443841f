import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { WAL_TOPICS } from './recorder.js';
import type { RecoveryReport } from './recovery.js';

/**
 * What start-up recovery of a producer's WAL directory found: torn tails cut, segments quarantined,
 * segments sealed. Both recorder modes run that recovery (`direct` seals what a crashed `wal_first` run
 * left open), so both count it under the same names.
 */
export class RecoveryMetrics {
  readonly tornBytes: Counter;
  readonly quarantined: Counter<'topic'>;
  readonly sealed: Counter<'topic'>;

  constructor(registry: Registry) {
    this.tornBytes = new Counter({
      name: 'hft_wal_torn_bytes_total',
      help: 'Bytes of torn tails truncated from unsealed segments at recovery',
      registers: [registry],
    });
    this.quarantined = new Counter({
      name: 'hft_wal_quarantined_segments_total',
      help: 'Segments moved to quarantine/ because of a corrupt record in the middle',
      labelNames: ['topic'],
      registers: [registry],
    });
    this.sealed = new Counter({
      name: 'hft_wal_segments_sealed_total',
      help: 'Segments sealed (rotation, shutdown, recovery)',
      labelNames: ['topic'],
      registers: [registry],
    });
  }

  countRecovery(report: RecoveryReport): void {
    for (const t of report.tornBytes) this.tornBytes.inc(t.bytes);
    for (const q of report.quarantined) this.quarantined.inc({ topic: q.topic });
    for (const s of report.sealed) this.sealed.inc({ topic: s.topic });
  }
}

/**
 * The WAL writer's metrics. Per-record counts are kept in plain arrays on the hot path and folded into
 * the prom-client counters when the registry is scraped (a labelled `inc()` per record would cost more
 * than encoding the record).
 */
export class WalMetrics extends RecoveryMetrics {
  readonly recordsByTopic = new Float64Array(WAL_TOPICS.length);
  readonly bytesByTopic = new Float64Array(WAL_TOPICS.length);
  readonly droppedByTopic = new Float64Array(WAL_TOPICS.length);
  readonly refused: Counter<'topic' | 'reason'>;
  readonly writeErrors: Counter<'op'>;
  readonly bufferedBytes: Gauge;
  readonly lastSeq: Gauge;
  readonly durableSeq: Gauge;
  readonly commitSeconds: Histogram;

  constructor(registry: Registry) {
    super(registry);
    const folded = (name: string, help: string, source: Float64Array) => {
      const seen = new Float64Array(WAL_TOPICS.length);
      return new Counter({
        name,
        help,
        labelNames: ['topic'],
        registers: [registry],
        collect() {
          for (let i = 0; i < WAL_TOPICS.length; i++) {
            const delta = (source[i] as number) - (seen[i] as number);
            if (delta > 0) this.inc({ topic: WAL_TOPICS[i] as string }, delta);
            seen[i] = source[i] as number;
          }
        },
      });
    };
    folded('hft_wal_records_total', 'Records accepted into the WAL, by topic', this.recordsByTopic);
    folded('hft_wal_bytes_total', 'Encoded bytes accepted into the WAL, by topic', this.bytesByTopic);
    folded(
      'hft_wal_dropped_total',
      'Records dropped by a `drop` topic policy at CRITICAL disk level',
      this.droppedByTopic,
    );
    this.refused = new Counter({
      name: 'hft_wal_refused_total',
      help: 'record() calls refused with an error (halted, queue_full, invalid, closed)',
      labelNames: ['topic', 'reason'],
      registers: [registry],
    });
    this.writeErrors = new Counter({
      name: 'hft_wal_write_errors_total',
      help: 'Failed WAL file operations (retried; data stays buffered)',
      labelNames: ['op'],
      registers: [registry],
    });
    this.bufferedBytes = new Gauge({
      name: 'hft_wal_buffered_bytes',
      help: 'Encoded bytes accepted but not yet written',
      registers: [registry],
    });
    this.lastSeq = new Gauge({
      name: 'hft_wal_last_seq',
      help: 'Last sequence handed out',
      registers: [registry],
    });
    this.durableSeq = new Gauge({
      name: 'hft_wal_durable_seq',
      help: 'Highest sequence durable under the fsync policy',
      registers: [registry],
    });
    this.commitSeconds = new Histogram({
      name: 'hft_wal_commit_seconds',
      help: 'Duration of one group commit (write + fsync per policy)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    });
  }
}
