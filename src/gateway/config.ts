import { z } from 'zod';

/**
 * Config section `gateway`: the decision pipeline's own settings. The venue address is `broker`, limits
 * are `risk` and `exposure`, the dedup window is `channel.decisionTtlMs`.
 */
export const gatewaySection = z
  .object({
    /** How often the ACTIVE gateway reconciles ADMITTED journal entries left by broker timeouts. */
    reconcileIntervalMs: z.number().int().min(10).max(3_600_000).default(1_000),
    /**
     * An entry ADMITTED at least this long is reconciled while active. Must exceed
     * broker.requestTimeoutMs, so a dispatch still awaiting its answer is never reconciled under it.
     */
    reconcileMinAgeMs: z.number().int().min(10).max(3_600_000).default(5_000),
    /** Entries reconciled per pass (the rest wait for the next pass). */
    reconcileBatch: z.number().int().min(1).max(100_000).default(512),
    /** deactivate() waits this long for in-flight intents before returning. */
    drainTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
    /** Execution reports queued for the exposure store; beyond it a report is dropped and counted. */
    executionQueueMax: z.number().int().min(1).max(10_000_000).default(100_000),
  })
  .strict();

export type GatewayConfig = z.infer<typeof gatewaySection>;
