import { z } from 'zod';

const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL');

/** Drift allowance in ms for a lease of `ttlMs`, as redlock computes it (factor × ttl + 2 ms precision). */
export function driftAllowanceMs(ha: { ttlMs: number; clockDriftPerMille: number }): number {
  return Math.ceil((ha.ttlMs * ha.clockDriftPerMille) / 1000) + 2;
}

/**
 * Config section `ha`: the leader lease over independent Redis lease nodes and the role state machine.
 *
 * Timing contract (checked below, so a bad combination fails start-up instead of flapping in production):
 * a renewal is sent every `renewIntervalMs`; each lease node answers within `nodeTimeoutMs` or counts as a
 * vote against; the leader stops dispatching `safetyMarginMs` before its lease could expire, measured on the
 * monotonic clock from the instant the last successful renewal was *sent*, minus the clock drift allowance.
 * So one renewal (interval + node timeout) must fit inside the lease minus margin and drift, with room for a
 * second try.
 */
export const haSection = z
  .object({
    /** false: single-process mode (fixed epoch). true: contend for the lease; only the holder dispatches. */
    enabled: z.boolean().default(false),
    /** 1, 3 or 5 independent Redis servers (no replication between them); the lease needs a majority. */
    leaseNodes: z
      .array(redisUrl)
      .min(1)
      .max(7)
      .refine((nodes) => nodes.length % 2 === 1, 'use an odd number of lease nodes (1, 3, 5)')
      .refine((nodes) => new Set(nodes).size === nodes.length, 'lease nodes must be distinct')
      .default(['redis://127.0.0.1:6380']),
    /** Name of the lease; gateways contending for the same name form one active/standby group. */
    leaseName: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('gateway'),
    /** Lease time to live set on every node. A dead leader is replaced after at most this long. */
    ttlMs: z.number().int().min(100).max(60_000).default(1_000),
    /** How often the leader extends its lease. */
    renewIntervalMs: z.number().int().min(10).max(30_000).default(150),
    /** Standby: pause between acquisition attempts, plus or minus up to `retryJitterMs`. */
    acquireRetryMs: z.number().int().min(5).max(30_000).default(40),
    retryJitterMs: z.number().int().min(0).max(10_000).default(20),
    /** The leader stops dispatching this long before its lease could expire (self-fencing by time). */
    safetyMarginMs: z.number().int().min(10).max(30_000).default(250),
    /** Allowance for clock-rate drift between this host and the lease nodes, per mille of the TTL. */
    clockDriftPerMille: z.number().int().min(0).max(100).default(10),
    /** Per-command timeout on lease-node connections: a hung node becomes a vote against, not a stall. */
    nodeTimeoutMs: z.number().int().min(5).max(10_000).default(100),
    /**
     * Dead-holder detection (docs/ha.md): a standby may break the lease before it expires on a node where the
     * holder's named lease connection is gone (a killed process's sockets are closed by its kernel) and the
     * key has not been extended for `deadHolderQuietMs`. false: wait for expiry only.
     */
    deadHolderBreak: z.boolean().default(true),
    /**
     * How long a key must have gone without renewal before a standby may break it. It must exceed the time a
     * live leader needs to notice a failed renewal (renewal period + two node timeouts: the previous renewal's
     * duration and this one's), so a live leader has stopped dispatching before its lease can be broken.
     */
    deadHolderQuietMs: z.number().int().min(10).max(60_000).default(400),
    /** Planned step-down: longest wait for in-flight intents before the lease is released anyway. */
    stepDownTimeoutMs: z.number().int().min(0).max(600_000).default(5_000),
    /**
     * After stepping down or being fenced, wait this long before contending again, so a standby (polling every
     * acquireRetryMs ± jitter) wins. Longer only delays the next handover when several drills run back to back.
     */
    standbyHoldoffMs: z.number().int().min(0).max(600_000).default(300),
    /** How often each gateway publishes its status (for `hft ha status`) to the state Redis. */
    statusIntervalMs: z.number().int().min(50).max(60_000).default(250),
    /** Cap of the HA transition event stream in the state Redis (approximate MAXLEN). */
    eventsMaxLen: z.number().int().min(100).max(1_000_000).default(10_000),
  })
  .strict()
  .superRefine((ha, ctx) => {
    const drift = driftAllowanceMs(ha);
    const usable = ha.ttlMs - drift - ha.safetyMarginMs;
    if (ha.renewIntervalMs + ha.nodeTimeoutMs >= usable) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['renewIntervalMs'],
        message: `renewIntervalMs + nodeTimeoutMs (${ha.renewIntervalMs + ha.nodeTimeoutMs}) must be below ttlMs - drift - safetyMarginMs (${usable}), or the leader fences itself between renewals`,
      });
    }
    if (ha.safetyMarginMs <= ha.nodeTimeoutMs) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['safetyMarginMs'],
        message: 'safetyMarginMs must exceed nodeTimeoutMs so an in-flight renewal cannot outlive the margin',
      });
    }
    if (ha.deadHolderQuietMs <= ha.renewIntervalMs + 2 * ha.nodeTimeoutMs) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['deadHolderQuietMs'],
        message: `deadHolderQuietMs must exceed renewIntervalMs + 2 × nodeTimeoutMs (${ha.renewIntervalMs + 2 * ha.nodeTimeoutMs}), or a live leader could be broken before it notices its renewal failed`,
      });
    }
    if (ha.deadHolderQuietMs >= ha.ttlMs) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['deadHolderQuietMs'],
        message: 'deadHolderQuietMs must be below ttlMs (at or above it, expiry comes first anyway)',
      });
    }
  });

export type HaConfig = z.infer<typeof haSection>;
