import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from '../clock.js';
import { CommitLoop } from './commit-loop.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TopicPolicy, WalConfig } from './config.js';
import { DISK_LEVELS, type DiskLevel, DiskPressureMonitor } from './disk-pressure-monitor.js';
import type { JsonPayload } from './json-payload.js';
import { LineEncoder } from './line-encoder.js';
import { assertProducerId } from './producer-id.js';
import { type EventRecorder, WAL_TOPICS, type WalTopic } from './recorder.js';
import { RecordClock } from './record-clock.js';
import { recoverProducer } from './recovery.js';
import { SegmentFile } from './segment-file.js';
import { SegmentSealer } from './segment-sealer.js';
import { SeqReservation } from './seq-reservation.js';
import { BoundedChunkPool, type PendingBatch, TopicBuffer } from './topic-buffer.js';
import { WalMetrics } from './wal-metrics.js';

export interface WalWriterDeps {
  readonly producerId: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
}

interface TopicState {
  readonly topic: WalTopic;
  readonly dir: string;
  readonly buffer: TopicBuffer;
  /** Batches taken for a commit and not yet fully written (kept across a failed commit). */
  readonly unwritten: PendingBatch[];
  segment: SegmentFile | null;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const CHUNK_BYTES = 256 * 1024;
const RANK_CRITICAL = DISK_LEVELS.indexOf('CRITICAL');
const RANK_HALT = DISK_LEVELS.indexOf('HALT');
const MAX_RETRY_DELAY_MS = 1_000;

/**
 * The WAL-first recorder. `record()` encodes the event into an in-memory per-topic batch and returns its
 * sequence number at once; a single flush loop, off the caller's path, group-commits all topics' batches
 * to their open segments, fsyncs per policy, rotates and seals. See docs/wal.md for the guarantees.
 */
export class WalWriter implements EventRecorder {
  private readonly clock: Clock;
  private readonly encoder: LineEncoder;
  private readonly recordClock: RecordClock;
  private readonly loop: CommitLoop;
  private readonly topics: TopicState[];
  private readonly pool: BoundedChunkPool;
  private readonly sealer: SegmentSealer;
  private readonly topicIndex = new Map<string, number>();
  private readonly criticalPolicy: TopicPolicy[];
  private levelRank = 0;
  private nextSeq: number;
  private written: number;
  private durable: number;
  private buffered = 0;
  private pendingBytes = 0;
  private pendingCount = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private lastSyncMs: number;
  private delayTimer: NodeJS.Timeout | undefined;
  private readonly tickers: NodeJS.Timeout[] = [];
  private waiters: FlushWaiter[] = [];

  private constructor(
    private readonly config: WalConfig,
    private readonly producerId: string,
    private readonly logger: Logger,
    private readonly metrics: WalMetrics,
    clock: Clock,
    nextSeq: number,
    /** Numbers handed out must be covered by it (see seq-reservation.ts). */
    private readonly reservation: SeqReservation,
    /** The disk pressure monitor, when `wal.disk.enabled`. */
    readonly disk: DiskPressureMonitor | null,
  ) {
    this.clock = clock;
    this.encoder = new LineEncoder(producerId, WAL_TOPICS);
    this.recordClock = new RecordClock(clock);
    this.loop = new CommitLoop(
      {
        commit: () => this.commit(),
        hasDueWork: () => this.hasDueWork(),
        onFailure: (err, failures) => this.onCommitFailure(err, failures),
      },
      logger,
    );
    const pool = new BoundedChunkPool(
      CHUNK_BYTES,
      Math.ceil(config.maxBufferedBytes / CHUNK_BYTES) + WAL_TOPICS.length,
    );
    this.pool = pool;
    this.topics = WAL_TOPICS.map((topic, i) => {
      this.topicIndex.set(topic, i);
      return {
        topic,
        dir: join(config.dir, producerId, topic),
        buffer: new TopicBuffer(pool),
        unwritten: [],
        segment: null,
      };
    });
    this.criticalPolicy = WAL_TOPICS.map((t) => config.disk.topicPolicies[t]);
    this.nextSeq = nextSeq;
    this.sealer = new SegmentSealer({
      metrics: this.metrics,
      logger,
      nowNs: () => clock.wallNs().toString(),
    });
    this.written = nextSeq - 1;
    this.durable = nextSeq - 1;
    this.lastSyncMs = clock.monoMs();
    this.metrics.lastSeq.set(this.written);
    this.metrics.durableSeq.set(this.durable);
  }

  /** Recovers the producer's directory (torn tails, interrupted seals, high-water mark), then opens. */
  static async open(config: WalConfig, deps: WalWriterDeps): Promise<WalWriter> {
    assertProducerId(deps.producerId);
    const clock = deps.clock ?? systemClock;
    const logger = deps.logger.child({ component: 'wal', producer_id: deps.producerId });
    const report = await recoverProducer(config.dir, deps.producerId, WAL_TOPICS, logger, () =>
      clock.wallNs().toString(),
    );
    // No number is handed out before a mark covering it is durable: a crash then never lets a restart
    // hand the same number out again.
    const metrics = new WalMetrics(deps.registry);
    metrics.countRecovery(report);
    const reservation = await SeqReservation.open(
      {
        producerDir: join(config.dir, deps.producerId),
        producerId: deps.producerId,
        block: config.seqReserveBlock,
        clock,
        logger,
        onWriteError: () => metrics.writeErrors.inc({ op: 'reserve' }),
      },
      report.nextSeq - 1,
    );
    const disk = config.disk.enabled
      ? new DiskPressureMonitor(config.dir, config.disk, { logger, registry: deps.registry })
      : null;
    const writer = new WalWriter(
      config,
      deps.producerId,
      logger,
      metrics,
      clock,
      report.nextSeq,
      reservation,
      disk,
    );
    if (disk) {
      disk.onLevelChange(({ to }) => {
        writer.levelRank = DISK_LEVELS.indexOf(to);
      });
      writer.levelRank = DISK_LEVELS.indexOf(await disk.start());
    }
    writer.startTickers();
    logger.info(
      {
        dir: config.dir,
        fsync: config.fsync,
        next_seq: report.nextSeq,
        reserved_through: reservation.reservedThrough,
        recovered_segments: report.sealed.length,
        quarantined: report.quarantined.length,
        torn_bytes: report.tornBytes.reduce((n, t) => n + t.bytes, 0),
        disk_level: disk?.level ?? 'disabled',
      },
      'WAL writer open',
    );
    return writer;
  }

  /**
   * Encodes the event into the topic's batch and returns its sequence number; never waits on I/O.
   * Throws GW_ERR_WAL_HALTED (disk HALT, or a `halt` topic at CRITICAL), GW_ERR_WAL_QUEUE_FULL (more than
   * maxBufferedBytes not yet written: the caller sheds or retries later; nothing was recorded),
   * GW_ERR_WAL_RECORD_INVALID, GW_ERR_WAL_CLOSED. Returns -1, counted, for a `drop` topic at CRITICAL.
   * A refused or dropped record does not use a sequence number. GW_ERR_WAL_QUEUE_FULL also answers when
   * the next number is not covered by a durable high-water mark yet (the next block's write is late).
   */
  record(topic: WalTopic, payload: unknown): number {
    const index = this.admit(topic);
    if (index < 0) return -1;
    let json: string | undefined;
    try {
      json = JSON.stringify(payload);
    } catch (err) {
      throw this.refuse(
        topic,
        'invalid',
        'GW_ERR_WAL_RECORD_INVALID',
        `payload does not serialize: ${String(err)}`,
      );
    }
    if (typeof json !== 'string')
      throw this.refuse(topic, 'invalid', 'GW_ERR_WAL_RECORD_INVALID', 'payload is not JSON');
    const encoder = this.encoder;
    let maxBytes = encoder.maxBytes(index, json.length);
    if (maxBytes > this.config.maxRecordBytes) {
      // The bound assumes the worst escaping; measure before refusing a record that may well fit.
      maxBytes = encoder.maxBytes(index, 0) + Buffer.byteLength(JSON.stringify(json));
    }
    const seq = this.claim(topic, maxBytes);
    const state = this.topics[index] as TopicState;
    const buf = state.buffer.reserve(maxBytes);
    const ts = this.recordClock;
    ts.sample();
    const written = encoder.write(buf, state.buffer.offset, seq, ts.sec, ts.nsec, index, json);
    this.accept(state, index, seq, written);
    return seq;
  }

  /**
   * `record()` for an event built as a {@link JsonPayload} (already escaped, validated by construction):
   * the record on disk is byte for byte what `record(topic, value)` writes for the same value, without
   * serializing or escaping it here (the quote workers record their normalized quotes this way). A
   * payload that failed or is incomplete is refused with GW_ERR_WAL_RECORD_INVALID (record the object
   * with `record()` instead). Same errors, sequence and drop rules as `record()`; the payload may be
   * reset and reused as soon as this returns.
   */
  recordJson(topic: WalTopic, json: JsonPayload): number {
    const index = this.admit(topic);
    if (index < 0) return -1;
    const size = json.size;
    if (size < 0) throw this.refuse(topic, 'invalid', 'GW_ERR_WAL_RECORD_INVALID', 'payload not built');
    const encoder = this.encoder;
    const maxBytes = encoder.maxBytesEscaped(index, size);
    const seq = this.claim(topic, maxBytes);
    const state = this.topics[index] as TopicState;
    const buf = state.buffer.reserve(maxBytes);
    const ts = this.recordClock;
    ts.sample();
    const at = state.buffer.offset;
    const written = encoder.writeEscaped(buf, at, seq, ts.sec, ts.nsec, index, json.buf, size);
    this.accept(state, index, seq, written);
    return seq;
  }

  /** Closed, topic and disk-pressure checks: the topic's index, or -1 for a record dropped by policy. */
  private admit(topic: WalTopic): number {
    if (this.closed) throw this.refuse(topic, 'closed', 'GW_ERR_WAL_CLOSED');
    const index = this.topicIndex.get(topic);
    if (index === undefined)
      throw this.refuse('unknown', 'invalid', 'GW_ERR_WAL_RECORD_INVALID', `unknown topic ${String(topic)}`);
    if (this.levelRank >= RANK_CRITICAL) {
      if (this.levelRank >= RANK_HALT)
        throw this.refuse(topic, 'halted', 'GW_ERR_WAL_HALTED', 'disk level HALT');
      const policy = this.criticalPolicy[index];
      if (policy === 'drop') {
        (this.metrics.droppedByTopic[index] as number)++;
        return -1;
      }
      if (policy === 'halt')
        throw this.refuse(topic, 'halted', 'GW_ERR_WAL_HALTED', 'disk level CRITICAL, topic policy halt');
    }
    return index;
  }

  /** The next sequence number, if it is reserved and a record of up to `maxBytes` may be buffered. */
  private claim(topic: WalTopic, maxBytes: number): number {
    const seq = this.nextSeq;
    if (!this.reservation.covers(seq)) {
      throw this.refuse(
        topic,
        'seq_reserve',
        'GW_ERR_WAL_QUEUE_FULL',
        `sequence ${seq} not reserved yet (high-water ${this.reservation.reservedThrough})`,
      );
    }
    if (maxBytes > this.config.maxRecordBytes) {
      throw this.refuse(
        topic,
        'invalid',
        'GW_ERR_WAL_RECORD_INVALID',
        `record of ${maxBytes} bytes above maxRecordBytes`,
      );
    }
    if (this.buffered + maxBytes > this.config.maxBufferedBytes) {
      this.kick();
      throw this.refuse(topic, 'queue_full', 'GW_ERR_WAL_QUEUE_FULL', `${this.buffered} bytes buffered`);
    }
    return seq;
  }

  /** Accounts a record just encoded into the topic's buffer and schedules the commit. */
  private accept(state: TopicState, index: number, seq: number, written: number): void {
    state.buffer.commit(written, seq, this.recordClock.sec, this.recordClock.nsec);
    this.nextSeq = seq + 1;
    this.buffered += written;
    this.pendingBytes += written;
    this.pendingCount++;
    (this.metrics.recordsByTopic[index] as number)++;
    (this.metrics.bytesByTopic[index] as number) += written;
    if (this.pendingBytes >= this.config.batchMaxBytes || this.pendingCount >= this.config.batchMaxRecords) {
      this.kick();
    } else if (this.delayTimer === undefined) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        this.kick();
      }, this.config.batchMaxDelayMs);
    }
  }

  /** Highest sequence durable under the fsync policy (see docs/wal.md). Every lower one is durable too. */
  durableSeq(): number {
    return this.durable;
  }

  /** Last sequence handed out (0 before the first record of a fresh WAL). */
  lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Current disk pressure level as the append path sees it. */
  get diskLevel(): DiskLevel {
    return DISK_LEVELS[this.levelRank] as DiskLevel;
  }

  /**
   * Resolves when every record handed out before the call is durable per the policy (under `interval`
   * it forces the fsync now rather than waiting for the interval). Rejects only if the writer closes
   * while a write is failing.
   */
  flush(): Promise<void> {
    const target = this.nextSeq - 1;
    if (this.durable >= target) return Promise.resolve();
    // The writer's own timers are unref'd so an idle writer never holds a process open; a caller awaiting
    // durability must, or a process whose only work is this flush would exit before it completes.
    const keepAlive = setInterval(() => {}, 1 << 30);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.kick();
    }).finally(() => clearInterval(keepAlive));
  }

  /** Refuses new records, makes everything recorded durable, seals every open segment. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    for (const t of this.tickers) clearInterval(t);
    clearTimeout(this.delayTimer);
    this.disk?.stop();
    await this.flush();
    await this.loop.idle();
    await this.sealer.retryFailed();
    for (const state of this.topics) {
      if (state.segment) await this.seal(state);
    }
    await this.reservation.release(this.nextSeq - 1);
    this.logger.info({ last_seq: this.nextSeq - 1, durable_seq: this.durable }, 'WAL writer closed');
  }

  private startTickers(): void {
    // Age rotation must happen on an idle topic too, and `interval` needs its fsync even without new
    // writes; both only kick the flush loop.
    const ageTick = Math.max(10, Math.min(1_000, Math.floor(this.config.segmentMaxAgeMs / 4)));
    this.tickers.push(setInterval(() => this.kick(), ageTick));
    if (this.config.fsync === 'interval') {
      this.tickers.push(
        setInterval(() => {
          if (this.written > this.durable) this.kick();
        }, this.config.fsyncIntervalMs),
      );
    }
    for (const t of this.tickers) t.unref();
  }

  private refuse(
    topic: string,
    reason: string,
    code: 'GW_ERR_WAL_CLOSED' | 'GW_ERR_WAL_HALTED' | 'GW_ERR_WAL_QUEUE_FULL' | 'GW_ERR_WAL_RECORD_INVALID',
    detail?: string,
  ): GatewayError {
    this.metrics.refused.inc({ topic, reason });
    return new GatewayError(code, detail, { topic });
  }

  private kick(): void {
    this.loop.kick();
  }

  private hasDueWork(): boolean {
    return this.pendingBytes >= this.config.batchMaxBytes || this.pendingCount >= this.config.batchMaxRecords;
  }

  /** Keeps the data and retries with capped backoff; once closing, fails the waiting flush() calls instead. */
  private onCommitFailure(err: unknown, failures: number): number | null {
    this.metrics.bufferedBytes.set(this.buffered);
    if (!this.closed) return Math.min(MAX_RETRY_DELAY_MS, 10 * 2 ** failures);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
    return null;
  }

  /** One group commit: write every topic's batch, fsync per policy, rotate, release flush waiters. */
  private async commit(): Promise<void> {
    const startedMs = this.clock.monoMs();
    const target = this.nextSeq - 1;
    clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    for (const state of this.topics) {
      const batch = state.buffer.take();
      if (batch) state.unwritten.push(batch);
    }
    this.pendingBytes = 0;
    this.pendingCount = 0;

    const writing = this.topics.filter((s) => s.unwritten.length > 0);
    const results = await Promise.allSettled(writing.map((s) => this.drain(s)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.metrics.writeErrors.inc({ op: 'write' });
      throw failed.reason;
    }
    this.written = Math.max(this.written, target);

    const policy = this.config.fsync;
    const syncDue =
      policy === 'batch' ||
      (policy === 'interval' &&
        // A waiting flush() makes the fsync due now rather than at the next interval.
        (this.waiters.length > 0 || startedMs - this.lastSyncMs >= this.config.fsyncIntervalMs));
    if (syncDue) {
      this.lastSyncMs = startedMs;
      try {
        await Promise.all(this.topics.map((s) => s.segment?.datasync()));
      } catch (err) {
        this.metrics.writeErrors.inc({ op: 'fsync' });
        throw err;
      }
    }
    if (syncDue || policy === 'never') this.durable = Math.max(this.durable, this.written);
    // Release flush() callers before rotation: a failing seal must not hold up records already durable.
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => w.target <= this.durable);
      this.waiters = this.waiters.filter((w) => w.target > this.durable);
      for (const w of ready) w.resolve();
    }
    this.metrics.lastSeq.set(this.nextSeq - 1);
    this.metrics.durableSeq.set(this.durable);
    this.metrics.bufferedBytes.set(this.buffered);
    if (writing.length > 0) this.metrics.commitSeconds.observe((this.clock.monoMs() - startedMs) / 1000);

    await this.sealer.retryFailed();
    const nowMs = this.clock.monoMs();
    for (const state of this.topics) {
      const seg = state.segment;
      if (
        seg &&
        (seg.contents.bytes >= this.config.segmentMaxBytes ||
          nowMs - seg.openedAtMs >= this.config.segmentMaxAgeMs)
      ) {
        await this.seal(state);
      }
    }
  }

  /** Writes a topic's unwritten batches in order, opening its segment on first use. */
  private async drain(state: TopicState): Promise<void> {
    while (state.unwritten.length > 0) {
      const batch = state.unwritten[0] as PendingBatch;
      if (state.segment === null) {
        state.segment = await SegmentFile.create(
          state.dir,
          this.producerId,
          state.topic,
          batch.firstSeq,
          batch.firstTsNs,
          this.clock.monoMs(),
        );
      }
      await state.segment.append(batch.views);
      state.segment.addRecords(batch.count, batch.lastSeq, batch.lastTsNs);
      state.unwritten.shift();
      this.buffered -= batch.bytes;
      for (const chunk of batch.retired) this.pool.release(chunk);
    }
  }

  private async seal(state: TopicState): Promise<void> {
    const seg = state.segment as SegmentFile;
    state.segment = null;
    await this.sealer.seal(seg);
  }
}
