import { z } from 'zod';

/**
 * Config section `quotes`: the broker quote ingress (CE2-10) and the quote schema lock (CE2-11).
 * See docs/quotes.md for the queue and overflow design and runbooks/quote-schema.md for the override.
 */

export const OVERFLOW_POLICIES = ['drop_oldest', 'drop_newest', 'halt'] as const;
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

export const QUOTE_TOPICS = ['tick', 'bidask'] as const;
export type QuoteTopic = (typeof QUOTE_TOPICS)[number];

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
const symbolName = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a v1 symbol');
const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL');

/**
 * Where a gateway process gets its quotes (quote-service.ts): a TCP line stream on loopback served by
 * the feed simulator process (feed-server.ts). Off by default, so a deployment without a feed keeps
 * running as before (with no reference prices; see risk.rejectWithoutReference).
 */
const feedSection = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().min(1).max(255).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(0),
    /** Give up one connect attempt after this long (then back off and try again). */
    connectTimeoutMs: z.number().int().min(10).max(60_000).default(2_000),
    /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`; reset once connected. */
    reconnectInitialMs: z.number().int().min(1).max(60_000).default(100),
    reconnectMaxMs: z.number().int().min(1).max(300_000).default(5_000),
  })
  .strict()
  .refine((f) => !f.enabled || f.port > 0, { message: 'an enabled feed needs a port', path: ['port'] })
  .refine((f) => f.reconnectInitialMs <= f.reconnectMaxMs, {
    message: 'reconnectInitialMs must not exceed reconnectMaxMs',
    path: ['reconnectInitialMs'],
  });

/**
 * Emergency schema override. Off by default; turning it on requires a reason, which is logged loudly at
 * start and periodically for as long as the override is on.
 */
const overrideSection = z
  .object({
    enabled: z.boolean().default(false),
    /** Why the override is on (incident id, broker notice). Required when enabled. */
    reason: z.string().max(200).default(''),
    /** Accept (and drop) payload fields v1 does not define instead of rejecting the quote. */
    acceptUnknownFields: z.boolean().default(false),
    /** Envelope versions accepted besides v1; their payloads must still carry every v1 field. */
    acceptVersions: z
      .array(z.string().regex(/^v[0-9]{1,3}(\.[0-9]{1,3})?$/, 'a version such as v2 or v1.1'))
      .max(8)
      .default([]),
    /** How often the "override is on" warning repeats. */
    logIntervalMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
  })
  .strict()
  .refine((o) => !o.enabled || o.reason.trim().length > 0, {
    message: 'an enabled override needs a reason',
    path: ['reason'],
  })
  .refine((o) => o.enabled || (!o.acceptUnknownFields && o.acceptVersions.length === 0), {
    message: 'override settings are set but override.enabled is false',
    path: ['enabled'],
  })
  .refine((o) => !o.acceptVersions.includes('v1'), {
    message: 'v1 is always accepted; list only alternate versions',
    path: ['acceptVersions'],
  });

export const quotesSection = z
  .object({
    /** Symbols subscribed at start (their index is the symbol id adapters report on the callback). */
    symbols: z.array(symbolName).max(4_096).default([]),
    topics: z.array(z.enum(QUOTE_TOPICS)).min(1).default(['tick', 'bidask']),
    /** Slots in the raw quote ring. A power of two so the slot index is a mask, not a division. */
    queueCapacity: z
      .number()
      .int()
      .min(16)
      .max(1 << 22)
      .refine(isPowerOfTwo, 'must be a power of two')
      .default(1 << 16),
    /** What a push into a full ring does. See docs/quotes.md for why drop_oldest is the default. */
    overflowPolicy: z.enum(OVERFLOW_POLICIES).default('drop_oldest'),
    /** Quotes a worker turn processes before yielding to the event loop (and so to the next callbacks). */
    drainBatchSize: z.number().int().min(1).max(65_536).default(256),
    /** Raw payloads longer than this are rejected QUOTE_OVERSIZE without being parsed. */
    maxPayloadBytes: z
      .number()
      .int()
      .min(256)
      .max(1 << 20)
      .default(8_192),
    schema: z
      .object({
        /** The locked schema. Only v1 exists; any other value fails start-up. */
        version: z.literal('v1').default('v1'),
        override: overrideSection.default({}),
      })
      .strict()
      .default({}),
    /**
     * Fan-out of validated quotes to strategy workers through capped Redis streams (redis-quote-publisher.ts).
     * Bounded everywhere; a slow or absent Redis costs dropped (counted) quotes, never a blocked worker.
     */
    publish: z
      .object({
        /**
         * Off by default: the gateway process publishes only when strategy workers read the streams.
         * Takes effect with the feed (`feed.enabled`); there is nothing to publish without it.
         */
        enabled: z.boolean().default(false),
        /** The Redis to publish to; default the state Redis (redis.stateUrl), on a connection of its own. */
        redisUrl: redisUrl.optional(),
        /** Entries kept per topic stream (XADD MAXLEN ~): each entry is one batch. */
        maxLen: z.number().int().min(16).max(1_000_000).default(10_000),
        /** Quotes per batch (one stream entry); a full batch is sent without waiting for the timer. */
        batchMaxQuotes: z.number().int().min(1).max(4_096).default(256),
        /** Longest a quote waits for its batch to fill. */
        flushIntervalMs: z.number().int().min(1).max(1_000).default(5),
        /** Quotes held while Redis is slow or down; past this the oldest batch is dropped (counted). */
        maxBufferedQuotes: z.number().int().min(1).max(1_048_576).default(16_384),
      })
      .strict()
      .default({}),
    feed: feedSection.default({}),
    /** Schema-reject logs: at most `maxPerInterval` records per interval, the rest counted and summarized. */
    rejectLog: z
      .object({
        maxPerInterval: z.number().int().min(0).max(10_000).default(20),
        intervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((q) => !q.feed.enabled || q.symbols.length > 0, {
    message: 'an enabled feed needs quotes.symbols to subscribe',
    path: ['symbols'],
  });

export type QuotesConfig = z.infer<typeof quotesSection>;
export type QuotesConfigInput = z.input<typeof quotesSection>;
