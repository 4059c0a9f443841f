import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type Clock, systemClock } from '../clock.js';
import type { clickhouseSection } from '../config/sections.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { WalConfig, WalDirectConfig } from './config.js';
import type { JsonPayload } from './json-payload.js';
import { LineEncoder } from './line-encoder.js';
import { assertProducerId } from './producer-id.js';
import { RecordClock } from './record-clock.js';
import { type EventRecorder, WAL_TOPICS, type WalTopic } from './recorder.js';
import { type RecoveryReport, recoverProducer } from './recovery.js';
import { SeqReservation } from './seq-reservation.js';
import { BoundedChunkPool, type PendingBatch, TopicBuffer } from './topic-buffer.js';
import { RecoveryMetrics } from './wal-metrics.js';

type ClickHouseConfig = ReturnType<typeof clickhouseSection.parse>;

/** The one thing the direct recorder needs from ClickHouse; tests may swap it, production uses the client. */
export interface WalRowSink {
  /** Highest `seq` stored for the producer (0 if none). */
  maxSeq(producerId: string): Promise<number>;
  /** INSERTs WAL lines (JSONEachRow bytes, exactly as in a segment). */
  insertLines(lines: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export class ClickHouseRowSink implements WalRowSink {
  private readonly client: ClickHouseClient;

  constructor(
    config: ClickHouseConfig,
    private readonly table: string,
  ) {
    this.client = createClient({
      url: config.url,
      database: config.database,
      username: config.username,
      password: config.password,
      request_timeout: config.requestTimeoutMs,
      // Failures surface as rejected calls that the recorder logs (pino, with context) and counts.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async maxSeq(producerId: string): Promise<number> {
    const result = await this.client.query({
      // ClickHouse 18.16 has no query parameters; the id is checked against PRODUCER_ID_PATTERN.
      query: `SELECT max(seq) AS seq FROM ${this.table} WHERE producer_id = '${assertProducerId(producerId)}'`,
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ seq: string | number }>();
    return Number(row?.seq ?? 0);
  }

  async insertLines(lines: Buffer[]): Promise<void> {
    const result = await this.client.exec({
      query: `INSERT INTO ${this.table} FORMAT JSONEachRow`,
      values: Readable.from(lines),
    });
    result.stream.resume();
    await new Promise<void>((resolve, reject) => {
      result.stream.once('end', resolve);
      result.stream.once('error', reject);
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export interface DirectRecorderDeps {
  readonly producerId: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
}

/**
 * Compatibility mode (`wal.mode: direct`): rows go straight to ClickHouse, in the WAL line format (same
 * table as the loaders fill). Bounded: at most maxBufferedRecords rows wait for an INSERT; beyond that
 * record() throws GW_ERR_WAL_QUEUE_FULL. A failed INSERT is retried with backoff and its rows stay
 * buffered. What is buffered is lost if the process dies — the reason `wal_first` is the default.
 *
 * Sequences: the producer has ONE sequence whatever the mode (docs/wal.md "Sequences"). The direct
 * recorder shares the WAL's `<wal.dir>/<producerId>/high-water.json` and its durable block reservation:
 * it starts above both ClickHouse's max(seq) (numbers other runs inserted) and the local mark (numbers
 * the WAL handed out that the loaders may not have loaded yet), and hands out a number only once the
 * mark covers it. So a later `wal_first` start, which resumes from the mark, continues above every number
 * this recorder handed out, including rows a crash lost before their INSERT.
 */
export class DirectRecorder implements EventRecorder {
  private readonly clock: Clock;
  private readonly encoder: LineEncoder;
  private readonly recordClock: RecordClock;
  private readonly buffer = new TopicBuffer(new BoundedChunkPool(256 * 1024, 8));
  private readonly topicIndex = new Map<string, number>(WAL_TOPICS.map((t, i) => [t, i]));
  private inFlight: PendingBatch | null = null;
  private bufferedRecords = 0;
  private nextSeq: number;
  private durable: number;
  private closed = false;
  private draining = false;
  /** Set by close() once it gave up waiting: the retry loop ends. */
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: { target: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly inserted: Counter;
  private readonly failures: Counter;
  private readonly lost: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly bufferedGauge: Gauge;

  private constructor(
    private readonly config: WalDirectConfig,
    private readonly sink: WalRowSink,
    private readonly reservation: SeqReservation,
    private readonly logger: Logger,
    registry: Registry,
    producerId: string,
    clock: Clock,
    lastSeq: number,
  ) {
    this.clock = clock;
    this.encoder = new LineEncoder(producerId, WAL_TOPICS);
    this.recordClock = new RecordClock(clock);
    this.nextSeq = lastSeq + 1;
    this.durable = lastSeq;
    const registers = [registry];
    this.inserted = new Counter({
      name: 'hft_recorder_direct_rows_total',
      help: 'Rows inserted by the direct recorder',
      registers,
    });
    this.failures = new Counter({
      name: 'hft_recorder_direct_insert_failures_total',
      help: 'Failed INSERTs of the direct recorder (rows kept, retried)',
      registers,
    });
    this.lost = new Counter({
      name: 'hft_recorder_direct_lost_rows_total',
      help: 'Rows still buffered when close() gave up waiting for ClickHouse',
      registers,
    });
    this.refused = new Counter({
      name: 'hft_recorder_direct_refused_total',
      help: 'record() calls refused by the direct recorder',
      labelNames: ['reason'],
      registers,
    });
    this.bufferedGauge = new Gauge({
      name: 'hft_recorder_direct_buffered_records',
      help: 'Rows waiting for an INSERT',
      registers,
      collect: () => this.bufferedGauge.set(this.bufferedRecords),
    });
  }

  /**
   * Resumes the producer's sequence above max(ClickHouse's max(seq), the local high-water mark) and
   * reserves the first block durably before the first record(). Needs ClickHouse
   * (GW_ERR_CLICKHOUSE_UNAVAILABLE) and a writable `wal.dir` (GW_ERR_CONFIG_INVALID) at start-up: without
   * the mark, a later `wal_first` run could hand out this run's numbers again, so it refuses to start.
   * It runs the WAL's recovery on the producer's directory first, which seals what a crashed `wal_first`
   * run left open (so the loaders can load it) and raises the mark over it.
   */
  static async open(
    wal: WalConfig,
    clickhouse: ClickHouseConfig,
    deps: DirectRecorderDeps,
    sink: WalRowSink = new ClickHouseRowSink(clickhouse, wal.direct.table),
  ): Promise<DirectRecorder> {
    assertProducerId(deps.producerId);
    const clock = deps.clock ?? systemClock;
    const logger = deps.logger.child({ component: 'recorder-direct', producer_id: deps.producerId });
    const producerDir = join(wal.dir, deps.producerId);
    let recovery: RecoveryReport;
    try {
      recovery = await recoverProducer(wal.dir, deps.producerId, WAL_TOPICS, logger, () =>
        clock.wallNs().toString(),
      );
    } catch (err) {
      await sink.close().catch(() => undefined);
      throw noSequenceMark(producerDir, err);
    }
    let clickhouseMax: number;
    try {
      clickhouseMax = await sink.maxSeq(deps.producerId);
    } catch (err) {
      await sink.close().catch(() => undefined);
      throw new GatewayError(
        'GW_ERR_CLICKHOUSE_UNAVAILABLE',
        'direct recorder cannot read its last sequence',
        {},
        { cause: err },
      );
    }
    const localMark = recovery.nextSeq - 1;
    const lastSeq = Math.max(clickhouseMax, localMark);
    // Registered only once open succeeds (a failed open may be retried with the same registry).
    let reserveErrors: Counter | undefined;
    let reservation: SeqReservation;
    try {
      reservation = await SeqReservation.open(
        {
          producerDir,
          producerId: deps.producerId,
          block: wal.seqReserveBlock,
          clock,
          logger,
          onWriteError: () => reserveErrors?.inc(),
        },
        lastSeq,
      );
    } catch (err) {
      await sink.close().catch(() => undefined);
      throw noSequenceMark(producerDir, err);
    }
    reserveErrors = new Counter({
      name: 'hft_recorder_direct_reserve_errors_total',
      help: 'Failed durable writes of the sequence reservation (high-water.json) by the direct recorder',
      registers: [deps.registry],
    });
    new RecoveryMetrics(deps.registry).countRecovery(recovery);
    logger.info(
      {
        clickhouse_max_seq: clickhouseMax,
        local_mark: localMark,
        reserved_through: reservation.reservedThrough,
        recovered_segments: recovery.sealed.length,
        quarantined: recovery.quarantined.length,
        torn_bytes: recovery.tornBytes.reduce((n, t) => n + t.bytes, 0),
      },
      'direct recorder resumes above ClickHouse and the local high-water mark',
    );
    return new DirectRecorder(
      wal.direct,
      sink,
      reservation,
      logger,
      deps.registry,
      deps.producerId,
      clock,
      lastSeq,
    );
  }

  record(topic: WalTopic, payload: unknown): number {
    const index = this.admit(topic);
    let json: string | undefined;
    try {
      json = JSON.stringify(payload);
    } catch (err) {
      throw this.refuse('invalid', 'GW_ERR_WAL_RECORD_INVALID', `payload does not serialize: ${String(err)}`);
    }
    if (typeof json !== 'string')
      throw this.refuse('invalid', 'GW_ERR_WAL_RECORD_INVALID', 'payload is not JSON');
    const seq = this.claim();
    const ts = this.recordClock;
    ts.sample();
    const buf = this.buffer.reserve(this.encoder.maxBytes(index, json.length));
    const written = this.encoder.write(buf, this.buffer.offset, seq, ts.sec, ts.nsec, index, json);
    this.accept(seq, written);
    return seq;
  }

  /** See EventRecorder.recordJson: the same row as `record()` for the payload's value. */
  recordJson(topic: WalTopic, json: JsonPayload): number {
    const index = this.admit(topic);
    const size = json.size;
    if (size < 0) throw this.refuse('invalid', 'GW_ERR_WAL_RECORD_INVALID', 'payload not built');
    const seq = this.claim();
    const ts = this.recordClock;
    ts.sample();
    const buf = this.buffer.reserve(this.encoder.maxBytesEscaped(index, size));
    const offset = this.buffer.offset;
    const written = this.encoder.writeEscaped(buf, offset, seq, ts.sec, ts.nsec, index, json.buf, size);
    this.accept(seq, written);
    return seq;
  }

  private admit(topic: WalTopic): number {
    if (this.closed) throw this.refuse('closed', 'GW_ERR_WAL_CLOSED');
    const index = this.topicIndex.get(topic);
    if (index === undefined)
      throw this.refuse('invalid', 'GW_ERR_WAL_RECORD_INVALID', `unknown topic ${String(topic)}`);
    return index;
  }

  /** The next number, if there is room for its row and the durable reservation covers it. */
  private claim(): number {
    if (this.bufferedRecords >= this.config.maxBufferedRecords) {
      throw this.refuse(
        'queue_full',
        'GW_ERR_WAL_QUEUE_FULL',
        `${this.bufferedRecords} rows await ClickHouse`,
      );
    }
    const seq = this.nextSeq;
    if (!this.reservation.covers(seq)) {
      throw this.refuse(
        'seq_reserve',
        'GW_ERR_WAL_QUEUE_FULL',
        `sequence ${seq} not reserved yet (high-water ${this.reservation.reservedThrough})`,
      );
    }
    return seq;
  }

  private accept(seq: number, written: number): void {
    const ts = this.recordClock;
    this.buffer.commit(written, seq, ts.sec, ts.nsec);
    this.nextSeq = seq + 1;
    this.bufferedRecords++;
    if (this.buffer.count >= this.config.batchMaxRecords) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.config.flushIntervalMs);
  }

  /** Highest sequence ClickHouse has acknowledged. */
  durableSeq(): number {
    return this.durable;
  }

  lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Resolves when every row recorded so far is inserted (waits through ClickHouse outages). */
  flush(): Promise<void> {
    const target = this.nextSeq - 1;
    if (this.durable >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.kick();
    });
  }

  /**
   * Refuses new records and waits up to `closeTimeoutMs` for the buffered rows to be inserted. Rows still
   * buffered then are lost (the compatibility mode's known weakness): logged at error and counted in
   * `hft_recorder_direct_lost_rows_total`, so a shutdown never hangs on a ClickHouse outage.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timeout: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.flush().then(() => true),
      new Promise<false>((resolve) => {
        timeout = setTimeout(() => resolve(false), this.config.closeTimeoutMs);
      }),
    ]);
    clearTimeout(timeout);
    clearTimeout(this.timer);
    this.stopped = true;
    if (!drained) {
      const lost = this.bufferedRecords;
      this.lost.inc(lost);
      this.logger.error(
        { rows: lost, first_lost_seq: this.durable + 1, last_lost_seq: this.nextSeq - 1 },
        'direct recorder closed with rows ClickHouse never acknowledged; they are lost',
      );
    }
    // No number is handed out any more: the mark comes down to the last one handed out (inserted or
    // lost, never reused), so the next start in either mode continues without a gap.
    await this.reservation.release(this.nextSeq - 1);
    await this.sink.close();
  }

  private refuse(
    reason: string,
    code: 'GW_ERR_WAL_CLOSED' | 'GW_ERR_WAL_QUEUE_FULL' | 'GW_ERR_WAL_RECORD_INVALID',
    detail?: string,
  ) {
    this.refused.inc({ reason });
    return new GatewayError(code, detail);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.draining) return;
    this.draining = true;
    void this.drain().finally(() => {
      this.draining = false;
      if (!this.stopped && (this.buffer.count > 0 || this.inFlight))
        this.timer ??= setTimeout(() => this.kick(), this.config.flushIntervalMs);
    });
  }

  private async drain(): Promise<void> {
    let failures = 0;
    for (;;) {
      this.inFlight ??= this.buffer.take();
      const batch = this.inFlight;
      if (batch === null) return;
      try {
        await this.sink.insertLines(batch.views);
      } catch (err) {
        if (this.stopped) return;
        failures++;
        this.failures.inc();
        this.logger.warn(
          { err, rows: batch.count, failures },
          'direct recorder INSERT failed; rows kept, retrying',
        );
        await new Promise((r) => setTimeout(r, this.config.retryBackoffMs));
        continue;
      }
      failures = 0;
      this.inFlight = null;
      this.bufferedRecords -= batch.count;
      this.inserted.inc(batch.count);
      this.durable = Math.max(this.durable, batch.lastSeq);
      const ready = this.waiters.filter((w) => w.target <= this.durable);
      this.waiters = this.waiters.filter((w) => w.target > this.durable);
      for (const w of ready) w.resolve();
    }
  }
}

function noSequenceMark(producerDir: string, err: unknown): GatewayError {
  return new GatewayError(
    'GW_ERR_CONFIG_INVALID',
    `direct recorder needs a writable wal.dir for the producer's sequence mark (${producerDir}): ${String(
      (err as Error)?.message ?? err,
    )}`,
    {},
    { cause: err },
  );
}
