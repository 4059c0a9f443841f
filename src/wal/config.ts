import { z } from 'zod';
import { WAL_TOPICS, type WalTopic } from './recorder.js';

/**
 * Config section `wal`: the WAL-first recorder (segments, group commit, fsync policy), the direct
 * ClickHouse compatibility recorder, and the disk pressure policy. See docs/wal.md.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** One disk pressure threshold: the level applies when free space falls below EITHER bound. */
const threshold = (percent: number, bytes: number) =>
  z
    .object({
      /** Free space on the WAL volume below this percentage of its size (0 disables). */
      minFreePercent: z.number().min(0).max(100).default(percent),
      /** Free space on the WAL volume below this many bytes (0 disables). */
      minFreeBytes: z.number().int().min(0).default(bytes),
    })
    .strict()
    .default({});

export const TOPIC_POLICIES = ['write', 'drop', 'halt'] as const;
export type TopicPolicy = (typeof TOPIC_POLICIES)[number];

/**
 * What each topic does at CRITICAL: order-path topics keep writing into the reserve until HALT; market
 * data is dropped (counted) first, since it can be re-fetched and must not eat the order path's reserve.
 */
export const DEFAULT_TOPIC_POLICIES: Readonly<Record<WalTopic, TopicPolicy>> = Object.freeze({
  'gateway.intent': 'write',
  'gateway.decision': 'write',
  'gateway.dispatch': 'write',
  'gateway.ack': 'write',
  'gateway.fill': 'write',
  'gateway.policy': 'write',
  'ha.role': 'write',
  'market.tick': 'drop',
  'market.bidask': 'drop',
});

const topicPolicies = z
  .object(
    Object.fromEntries(
      WAL_TOPICS.map((t) => [t, z.enum(TOPIC_POLICIES).default(DEFAULT_TOPIC_POLICIES[t])]),
    ) as {
      [K in WalTopic]: z.ZodDefault<z.ZodEnum<['write', 'drop', 'halt']>>;
    },
  )
  .strict()
  .default({});

export const walDiskSection = z
  .object({
    enabled: z.boolean().default(true),
    /** How often statfs samples the WAL volume (a timer, never on the append path). */
    checkIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
    warn: threshold(20, 4 * 1024 * MiB),
    critical: threshold(10, 2 * 1024 * MiB),
    halt: threshold(5, 1024 * MiB),
    /** Policy applied per topic at CRITICAL. HALT refuses every topic. */
    topicPolicies,
  })
  .strict();

export const walDirectSection = z
  .object({
    /** ClickHouse table with the WAL row shape (producer_id, seq, ts_ns, topic, payload, crc). */
    table: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.]*$/)
      .default('wal_events'),
    /** Rows buffered in memory awaiting an INSERT; record() beyond it throws GW_ERR_WAL_QUEUE_FULL. */
    maxBufferedRecords: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Rows per INSERT, and the longest a row waits before its INSERT starts. */
    batchMaxRecords: z.number().int().min(1).max(1_000_000).default(10_000),
    flushIntervalMs: z.number().int().min(1).max(60_000).default(200),
    /** Backoff between failed INSERTs (the batch is kept and retried). */
    retryBackoffMs: z.number().int().min(1).max(60_000).default(500),
    /** close() waits this long for buffered rows; what is still buffered after it is lost (logged, counted). */
    closeTimeoutMs: z.number().int().min(0).max(600_000).default(5_000),
  })
  .strict();

export const walSection = z
  .object({
    /** Root directory of the WAL; layout per src/wal/manifest.ts. */
    dir: z.string().min(1).default('./var/wal'),
    /** `wal_first` (default): local segments, never waits on ClickHouse. `direct`: compatibility mode. */
    mode: z.enum(['wal_first', 'direct']).default('wal_first'),
    /**
     * `batch`: fdatasync after every group-commit write (nothing acknowledged is lost on power failure).
     * `interval`: fdatasync every fsyncIntervalMs (power failure loses at most that window).
     * `never`: the OS decides (a process crash loses nothing written; power failure may lose anything
     * not yet sealed). Sealing always fsyncs.
     */
    fsync: z.enum(['batch', 'interval', 'never']).default('interval'),
    fsyncIntervalMs: z.number().int().min(1).max(60_000).default(50),
    /** Group commit: a batch is written when it reaches either bound or has waited batchMaxDelayMs. */
    batchMaxBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .max(64 * MiB)
      .default(1 * MiB),
    batchMaxRecords: z.number().int().min(1).max(10_000_000).default(16_384),
    batchMaxDelayMs: z.number().int().min(0).max(10_000).default(2),
    /** Bound on encoded bytes not yet written; record() beyond it throws GW_ERR_WAL_QUEUE_FULL. */
    maxBufferedBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .max(4096 * MiB)
      .default(64 * MiB),
    /** A single encoded record larger than this is refused with GW_ERR_WAL_RECORD_INVALID. */
    maxRecordBytes: z
      .number()
      .int()
      .min(1 * KiB)
      .max(64 * MiB)
      .default(1 * MiB),
    /**
     * Rotation: a segment is sealed once it reaches this size (overshoot ≤ one batch) or this age. Only a
     * sealed segment can be loaded, so these bound replay lag: defaults chosen for lag p99 ≤ 5 s at 100k
     * events/s (measured, docs/replay.md); 64 MiB / 60 s gave 21 s. The price is more, smaller files
     * (≤ one per topic per second while the topic is written; an idle topic seals nothing).
     */
    segmentMaxBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .max(4096 * MiB)
      .default(8 * MiB),
    segmentMaxAgeMs: z.number().int().min(10).max(86_400_000).default(1_000),
    /**
     * Sequence numbers reserved ahead per durable high-water write (docs/wal.md "Sequences"). A crash
     * leaves a gap of at most this many numbers; a clean close leaves none. Extended when half is used.
     */
    seqReserveBlock: z.number().int().min(2).max(1_000_000_000).default(1_000_000),
    disk: walDiskSection.default({}),
    direct: walDirectSection.default({}),
  })
  .strict()
  .refine((wal) => wal.maxRecordBytes <= wal.maxBufferedBytes, {
    message: 'maxRecordBytes must not exceed maxBufferedBytes',
    path: ['maxRecordBytes'],
  });

export type WalConfig = z.infer<typeof walSection>;
export type WalConfigInput = z.input<typeof walSection>;
export type WalDiskConfig = z.infer<typeof walDiskSection>;
export type WalDirectConfig = z.infer<typeof walDirectSection>;
