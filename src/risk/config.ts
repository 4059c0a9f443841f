import { z } from 'zod';
import { MAX_SCALED } from '../contracts/scaled.js';

/**
 * Config section `risk`: the limits the pure pre-trade risk engine applies to NEW and REPLACE intents
 * (cancels bypass all of them). Quantities are integer lots, prices and notionals scaled integers
 * (PRICE_SCALE), the collar in integer basis points. See docs/policy.md for how risk sits in the pipeline.
 */

const symbolName = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a v1 symbol');

const scaledLimit = z.number().int().min(1).max(MAX_SCALED);

/** Per-symbol override; a field left out falls back to `defaults`. */
const symbolLimits = z
  .object({
    maxQty: scaledLimit.optional(),
    maxNotional: scaledLimit.optional(),
  })
  .strict();

/** A token bucket: `ratePerSec` tokens are added per second up to `burst`; each intent takes one. */
const tokenBucket = (ratePerSec: number, burst: number) =>
  z
    .object({
      ratePerSec: z.number().int().min(1).max(10_000_000).default(ratePerSec),
      burst: z.number().int().min(1).max(10_000_000).default(burst),
    })
    .strict()
    .default({});

export const riskSection = z
  .object({
    defaults: z
      .object({
        /** Largest order quantity (lots) for a symbol without an override. */
        maxQty: scaledLimit.default(1_000_000),
        /** Largest price × qty (scaled) for a symbol without an override: 10 million currency units. */
        maxNotional: scaledLimit.default(100_000_000_000),
      })
      .strict()
      .default({}),
    symbols: z.record(symbolName, symbolLimits).default({}),
    /** Collar half-width around the reference price in basis points (500 = ±5 %). */
    collarBps: z.number().int().min(0).max(1_000_000).default(500),
    /** A reference price older than this (monotonic ms) rejects with RISK_REFERENCE_STALE. */
    referenceMaxAgeMs: z.number().int().min(1).max(86_400_000).default(5_000),
    /** true: no reference price rejects with RISK_NO_REFERENCE; false: the collar is skipped. */
    rejectWithoutReference: z.boolean().default(true),
    throttle: z
      .object({
        perStrategy: tokenBucket(2_000, 200),
        global: tokenBucket(50_000, 5_000),
        /**
         * Bound on strategies with a live bucket. At the bound, buckets that have refilled to full (the
         * state a new bucket starts in) are dropped; if none has, the new strategy is throttled.
         */
        maxStrategies: z.number().int().min(1).max(1_000_000).default(10_000),
      })
      .strict()
      .default({}),
    /** When set, only these symbols may be traded (RISK_SYMBOL_NOT_ALLOWED otherwise). */
    allowedSymbols: z.array(symbolName).max(100_000).optional(),
  })
  .strict();

export type RiskConfig = z.infer<typeof riskSection>;
export type RiskConfigInput = z.input<typeof riskSection>;
