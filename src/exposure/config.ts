import { z } from 'zod';
import { MAX_SCALED } from '../contracts/scaled.js';

/**
 * Config section `exposure`: notional limits (scaled integers, PRICE_SCALE) checked and reserved by the
 * admit script at symbol, strategy and account level, and the bound on symbols one account may track.
 * Every gateway of a cluster must run the same limits (they travel as script arguments).
 */
const limit = z.number().int().min(0).max(MAX_SCALED);
const name = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/);

export const exposureSection = z
  .object({
    /** Tracked symbols per account; at the bound idle symbols are evicted, then EXPOSURE_LIMIT. */
    maxTrackedSymbols: z.number().int().min(1).max(1_000_000).default(10_000),
    defaults: z
      .object({
        /** Worst-case notional per (account, symbol), each side. Default 50 million currency units. */
        symbolNotional: limit.default(500_000_000_000),
        /** Worst-case notional per (account, strategy) over all its symbols, each side. */
        strategyNotional: limit.default(2_000_000_000_000),
        /** Worst-case notional per account, each side. */
        accountNotional: limit.default(5_000_000_000_000),
      })
      .strict()
      .default({}),
    /** Per-name overrides of the defaults above. */
    symbols: z.record(name, limit).default({}),
    strategies: z.record(name, limit).default({}),
    accounts: z.record(name, limit).default({}),
  })
  .strict();

export type ExposureConfig = z.infer<typeof exposureSection>;
