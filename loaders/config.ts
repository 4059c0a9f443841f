import { z } from 'zod';

/** Named points in a segment load where the test-only fault hook can strike (see docs/replay.md). */
export const FAULT_POINTS = ['before-insert', 'mid-insert', 'after-insert', 'after-loaded'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/**
 * TEST ONLY. Makes a loader signal itself at a named crash point the first time it reaches it, after
 * printing `HFT_FAULT_POINT <point> <segmentId>` on stdout: `sigkill` is a crash, `sigstop` a process
 * pause (a test resumes it with SIGCONT). Never set in production; the loader logs a warning when set.
 */
const faultHookSection = z
  .object({
    point: z.enum(FAULT_POINTS),
    action: z.enum(['sigkill', 'sigstop']),
  })
  .strict();

const schedulerSection = z
  .object({
    /** Run the scan loop in this loader process. Every loader may run it: enqueues dedupe on job id. */
    enabled: z.boolean().default(true),
    /**
     * How often the WAL dirs are listed. It bounds how long a sealed segment waits to be noticed, i.e. it
     * adds straight to replay lag (target p99 ≤ 5 s); a scan is a few readdirs and one pipelined HGET per
     * segment on disk, so it is cheap to run often.
     */
    scanIntervalMs: z.number().int().min(50).max(3_600_000).default(500),
    /**
     * A segment still unfinished this long after the scheduler first saw it, whose BullMQ job is completed
     * or failed (attempts exhausted, or the job raced a crash), gets its job retried.
     */
    rescueAfterMs: z.number().int().min(100).default(60_000),
  })
  .strict();

export const loaderSection = z
  .object({
    /** WAL roots to scan (each laid out as in src/wal/manifest.ts). Empty: the `wal.dir` of this config. */
    walDirs: z.array(z.string().min(1)).default([]),
    queueName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default('wal-load'),
    /**
     * Segments one loader process loads at once: the backpressure bound (each holds at most one segment
     * of ≤ batchBytes in memory, else streams one 1 MiB read chunk at a time; ClickHouse holds up to one
     * batch per INSERT). With the WAL's 8 MiB segments, 5 loads hold ≈ 42 MiB. 5, not 3: pass 1 runs one
     * segment at a time per process anyway, so more loads mostly mean more INSERTs in flight, and
     * ClickHouse ingests faster with more of them (as the direct insert does at ×3–×4 against ×1): with
     * ClickHouse on its own core, one loader made 0.75–0.83 of a direct insert at 5 against 0.66–0.75 at
     * 3, medians of alternated rounds (docs/loader-bench.md, "Keeping ClickHouse fed").
     */
    concurrency: z.number().int().min(1).max(64).default(5),
    /** Records per INSERT; a batch also ends at batchBytes. Boundaries depend only on the file's bytes. */
    batchRows: z.number().int().min(1).max(1_000_000).default(50_000),
    batchBytes: z
      .number()
      .int()
      .min(1_024)
      .max(512 * 1024 * 1024)
      .default(32 * 1024 * 1024),
    /** Claim lease: a loader that stops renewing for this long loses the segment to another loader. */
    claimTtlMs: z.number().int().min(200).max(3_600_000).default(15_000),
    /** BullMQ job lock; a job whose worker died is redelivered after about this long. */
    jobLockMs: z.number().int().min(500).max(3_600_000).default(30_000),
    stalledIntervalMs: z.number().int().min(200).max(3_600_000).default(15_000),
    /** Attempts per job before it lands in BullMQ's failed set (the scheduler rescues it from there). */
    maxAttempts: z.number().int().min(1).max(1_000_000).default(10_000),
    retryBaseMs: z.number().int().min(10).max(600_000).default(500),
    retryMaxMs: z.number().int().min(10).max(3_600_000).default(30_000),
    /**
     * Completed jobs kept this long (and at most this many) so a re-enqueue of the same segment id is a
     * no-op. Correctness never depends on it: the manifest state decides (see docs/replay.md).
     */
    completedJobRetentionMs: z
      .number()
      .int()
      .min(1_000)
      .default(7 * 86_400_000),
    completedJobRetentionCount: z.number().int().min(100).default(500_000),
    /** What happens to a segment's files once LOADED is durable in Redis. */
    retention: z.enum(['archive', 'delete']).default('archive'),
    /** How long an ARCHIVED segment's state hash stays in Redis. */
    stateRetentionMs: z
      .number()
      .int()
      .min(1_000)
      .default(7 * 86_400_000),
    scheduler: schedulerSection.default({}),
    faultHook: faultHookSection.optional(),
  })
  .strict();

export type LoaderConfig = z.infer<typeof loaderSection>;
