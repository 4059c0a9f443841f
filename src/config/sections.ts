import { z } from 'zod';

/**
 * Config sections owned by the foundation. Each subsystem owns its own section schema next to its code
 * (for example `src/wal/config.ts`) and `schema.ts` composes them. Every object is `.strict()` so an
 * unknown or misspelled key fails start-up instead of being ignored.
 */

const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL');

export const redisSection = z
  .object({
    /** The state Redis: epoch, policy, exposure, dedup, journal, streams, manifests, BullMQ. */
    stateUrl: redisUrl.default('redis://127.0.0.1:6379'),
    /** Hash tag shared by every gateway key so all Lua scripts stay valid on Redis Cluster. */
    keyPrefix: z
      .string()
      .regex(/^\{[A-Za-z0-9_-]{1,32}\}$/, 'must be a hash tag such as {hft}')
      .default('{hft}'),
    /** Per-command timeout; a command that takes longer fails with GW_ERR_REDIS_UNAVAILABLE. */
    commandTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
    connectTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
  })
  .strict();

export const channelSection = z
  .object({
    stream: z.string().min(1).max(64).default('intents'),
    group: z.string().min(1).max(64).default('gateway'),
    /**
     * Cap on unacknowledged entries in the intent stream. Submits beyond it fail with
     * GW_ERR_CHANNEL_FULL; entries are never trimmed unread.
     */
    streamMaxLen: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Reply streams are per client, capped and expiring so a dead client leaves nothing behind. */
    replyMaxLen: z.number().int().min(16).max(1_000_000).default(10_000),
    replyTtlMs: z.number().int().min(1_000).default(600_000),
    /** Client side: most intents a client may have awaiting a decision at once. */
    inFlightMax: z.number().int().min(1).max(1_000_000).default(1_024),
    /** Client side: how long one attempt waits for a decision before retrying. */
    attemptTimeoutMs: z.number().int().min(10).max(600_000).default(2_000),
    /** Client side: attempts per submit (first try included). */
    maxAttempts: z.number().int().min(1).max(100).default(4),
    retryBaseMs: z.number().int().min(1).max(60_000).default(50),
    retryMaxMs: z.number().int().min(1).max(600_000).default(2_000),
    /** Consumer side: entries read per XREADGROUP call, and how long it blocks. */
    readCount: z.number().int().min(1).max(10_000).default(256),
    blockMs: z.number().int().min(1).max(60_000).default(500),
    /** Consumer side: a pending entry idle this long is claimed by a live consumer. */
    claimIdleMs: z.number().int().min(10).max(3_600_000).default(5_000),
    claimIntervalMs: z.number().int().min(10).max(3_600_000).default(1_000),
    /** Consumer side: deliveries after which an entry goes to the dead-letter stream. */
    maxDeliveries: z.number().int().min(1).max(1_000).default(5),
    deadLetterMaxLen: z.number().int().min(1).max(10_000_000).default(100_000),
    /** How long stored decisions answer retried submits (the dedup window). Default 24 h. */
    decisionTtlMs: z.number().int().min(1_000).default(86_400_000),
  })
  .strict();

export const opsSection = z
  .object({
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port (tests); the chart sets a fixed one. */
    port: z.number().int().min(0).max(65_535).default(9_464),
    /** Bearer token for the admin API. Empty disables the admin API entirely. */
    adminToken: z.string().default(''),
  })
  .strict();

export const logSection = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const clickhouseSection = z
  .object({
    url: z.string().url().default('http://127.0.0.1:8123'),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('hft'),
    username: z.string().default('default'),
    password: z.string().default(''),
    requestTimeoutMs: z.number().int().min(100).default(30_000),
  })
  .strict();
