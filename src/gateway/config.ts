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
     * Orphan age: an ADMITTED entry is reconciled only once its latest dispatch attempt began this long
     * ago (state Redis clock) or was made under an older epoch. Must exceed broker.requestTimeoutMs, the
     * dispatchers' send window (they never write an order to the broker later than that after the attempt
     * started), so reconciliation never re-dispatches under a live dispatcher; the difference is the
     * margin for an order already written to reach the venue before reconciliation queries it.
     */
    reconcileMinAgeMs: z.number().int().min(10).max(3_600_000).default(5_000),
    /** Entries reconciled per pass (the rest wait for the next pass). */
    reconcileBatch: z.number().int().min(1).max(100_000).default(512),
    /**
     * Journal entries (and open orders) resolved at once by a reconciliation pass: venue queries and
     * scripts in flight together instead of one after another. A pass handles NEW entries before CANCELs,
     * so a resent cancel never races its own target's re-dispatch; distinct client order ids are
     * independent (each step is a compare-and-set on its own entry).
     */
    reconcileConcurrency: z.number().int().min(1).max(1_024).default(32),
    /**
     * Most intents one admit script call decides, and most outcomes one outcome script call records.
     * Admits (outcomes) requested in the same tick, or while `scriptBatchInFlight` such calls are already
     * in flight, go out together; each is decided exactly as a call of its own in the same order would be.
     * Larger batches cost less Redis and gateway CPU per intent but hold Redis longer per call. 1 = off:
     * one call per intent and no bound on calls in flight.
     */
    scriptBatchMax: z.number().int().min(1).max(512).default(32),
    /** Admit (outcome) script calls in flight at once; further requests wait and join the next batch. */
    scriptBatchInFlight: z.number().int().min(1).max(64).default(4),
    /** deactivate() waits this long for in-flight intents before returning. */
    drainTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
    /**
     * Execution reports queued for the exposure store, and orders whose report waits for a retry (Redis
     * failure or full queue; retried every reconcileIntervalMs). Beyond both a report is dropped and
     * counted, and the next activation's open-order sync catches that order up.
     */
    executionQueueMax: z.number().int().min(1).max(10_000_000).default(100_000),
  })
  .strict();

export type GatewayConfig = z.infer<typeof gatewaySection>;
