import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Loader worker metrics (per process; the registry's default labels carry the loader id). */
export interface LoaderMetrics {
  readonly rowsLoaded: Counter;
  readonly bytesLoaded: Counter;
  readonly segmentsDone: Counter<'outcome'>;
  readonly insertErrors: Counter<'stage'>;
  readonly insertSeconds: Histogram;
  readonly claims: Counter<'outcome'>;
  readonly claimsHeld: Gauge;
  readonly quarantined: Counter<'reason'>;
  readonly skippedRows: Counter;
}

/** Scheduler metrics: the backlog as seen on disk plus the manifest states in Redis. */
export interface SchedulerMetrics {
  readonly backlogSegments: Gauge;
  readonly backlogBytes: Gauge;
  readonly backlogRows: Gauge;
  readonly replayLagSeconds: Gauge;
  readonly drainRowsPerSecond: Gauge;
  readonly drainEtaSeconds: Gauge;
  readonly quarantinedSegments: Gauge;
  readonly enqueued: Counter;
  readonly rescued: Counter<'from'>;
  readonly scanErrors: Counter;
}

export function createLoaderMetrics(registry: Registry): LoaderMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name: `hft_loader_${name}`, help, labelNames, registers: [registry] });
  return {
    rowsLoaded: counter('rows_total', 'WAL records inserted into ClickHouse (rows/s = rate of this)'),
    bytesLoaded: counter('bytes_total', 'Segment bytes inserted into ClickHouse'),
    segmentsDone: counter('segments_total', 'Load jobs finished, by outcome', ['outcome']),
    insertErrors: counter('insert_errors_total', 'Failed ClickHouse inserts or checks (retried)', ['stage']),
    insertSeconds: new Histogram({
      name: 'hft_loader_insert_seconds',
      help: 'Duration of one batch INSERT',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    claims: counter('claims_total', 'Segment claim attempts by this loader, by outcome', ['outcome']),
    claimsHeld: new Gauge({
      name: 'hft_loader_claims_held',
      help: 'Segments this loader holds a live claim on',
      registers: [registry],
    }),
    quarantined: counter('quarantined_total', 'Segments this loader quarantined, by reason', ['reason']),
    skippedRows: counter('resume_skipped_rows_total', 'Records skipped on resume because they had landed'),
  };
}

export function createSchedulerMetrics(registry: Registry): SchedulerMetrics {
  const gauge = (name: string, help: string) =>
    new Gauge({ name: `hft_loader_${name}`, help, registers: [registry] });
  return {
    backlogSegments: gauge('backlog_segments', 'Sealed segments on disk not yet LOADED'),
    backlogBytes: gauge('backlog_bytes', 'Bytes of sealed segments not yet LOADED'),
    backlogRows: gauge('backlog_rows', 'Records in sealed segments not yet LOADED'),
    replayLagSeconds: gauge(
      'replay_lag_seconds',
      'Age of the oldest sealed segment not yet LOADED (0: none)',
    ),
    drainRowsPerSecond: gauge('drain_rows_per_second', 'Rows/s loaded by all loaders (EWMA over scans)'),
    drainEtaSeconds: gauge(
      'drain_eta_seconds',
      'Backlog rows / drain rate; 0 with no backlog, -1 while there is backlog but no progress',
    ),
    quarantinedSegments: gauge('quarantined_segments', 'Segments on disk in state QUARANTINED'),
    enqueued: new Counter({
      name: 'hft_loader_enqueued_total',
      help: 'Load jobs enqueued by this scheduler',
      registers: [registry],
    }),
    rescued: new Counter({
      name: 'hft_loader_rescued_jobs_total',
      help: 'Jobs re-queued for unfinished segments (job removed, completed or failed)',
      labelNames: ['from'],
      registers: [registry],
    }),
    scanErrors: new Counter({
      name: 'hft_loader_scan_errors_total',
      help: 'Scans that failed (retried next interval)',
      registers: [registry],
    }),
  };
}
