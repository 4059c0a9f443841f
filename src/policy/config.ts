import { z } from 'zod';

/**
 * Config section `policy`: the cluster-wide fail-safe policy cache and the StormGuard thresholds. Rates are
 * integer per-mille over a sliding window; latencies are nanoseconds. docs/policy.md is the decision
 * matrix these numbers feed.
 */
export const policySection = z
  .object({
    /** How often each process re-reads the policy hash (the hot path reads the cached copy). */
    refreshMs: z.number().int().min(10).max(60_000).default(100),
    /** Sliding window over which StormGuard rates are computed, split into `windowBuckets` buckets. */
    windowMs: z.number().int().min(100).max(3_600_000).default(10_000),
    windowBuckets: z.number().int().min(1).max(1_000).default(10),
    /** A rate trips nothing until the window holds at least this many observations of its kind. */
    minSamples: z.number().int().min(1).max(1_000_000).default(50),
    /** How often the windows are evaluated (consecutive-failure HALTs are evaluated on every failure). */
    evaluateEveryMs: z.number().int().min(10).max(60_000).default(100),
    // ── DEGRADED trips ──
    /** Broker calls failing (unavailable or timed out), per mille of broker calls in the window. */
    brokerErrorPerMille: z.number().int().min(1).max(1_000).default(100),
    /** A broker call at least this slow counts as slow. */
    brokerSlowNs: z.number().int().min(1).default(50_000_000),
    brokerSlowPerMille: z.number().int().min(1).max(1_000).default(200),
    /** A state Redis call at least this slow counts as slow. */
    redisSlowNs: z.number().int().min(1).default(20_000_000),
    redisSlowPerMille: z.number().int().min(1).max(1_000).default(200),
    /** Rejected decisions (policy rejects excluded), per mille of decisions in the window. */
    rejectStormPerMille: z.number().int().min(1).max(1_000).default(500),
    // ── HALT trips ──
    /** This many broker failures in a row, with no success between, means the broker is down. */
    brokerDownConsecutiveFailures: z.number().int().min(1).max(1_000_000).default(20),
    /** The broker connection staying down this long means the broker is down. */
    brokerDownMs: z.number().int().min(1).max(3_600_000).default(2_000),
    /** This many state-Redis failures in a row make the process HALT locally until Redis answers again. */
    redisDownConsecutiveFailures: z.number().int().min(1).max(1_000_000).default(3),
    /** Entries kept in the policy history stream. */
    historyMaxLen: z.number().int().min(10).max(1_000_000).default(1_000),
  })
  .strict();

export type PolicyConfig = z.infer<typeof policySection>;
export type PolicyConfigInput = z.input<typeof policySection>;
