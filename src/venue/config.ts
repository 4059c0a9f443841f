import { z } from 'zod';
import { FILL_MODES } from './protocol.js';

/**
 * The venue simulator's own settings (it is a separate process and does not read the cluster config).
 * Loopback only: it has no authentication and exists for tests, demos and drills.
 */
export const venueSimSchema = z
  .object({
    host: z.enum(['127.0.0.1', '::1', 'localhost']).default('127.0.0.1'),
    /** 0 picks a free port; the chosen ports are printed as one JSON line on stdout. */
    orderPort: z.number().int().min(0).max(65_535).default(0),
    httpPort: z.number().int().min(0).max(65_535).default(0),
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    /** Orders kept in the log; beyond it new orders are REJECTED with VENUE_CAPACITY (not logged). */
    maxOrders: z.number().int().min(1).max(50_000_000).default(2_000_000),
    fillMode: z.enum(FILL_MODES).default('immediate'),
    latencyMs: z.number().int().min(0).max(600_000).default(0),
  })
  .strict();

export type VenueSimConfig = z.infer<typeof venueSimSchema>;

/** Fault patch accepted by POST /faults: any subset, integers only. */
export const faultPatchSchema = z
  .object({
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    errorPerMille: z.number().int().min(0).max(1_000).optional(),
    dropReplyPerMille: z.number().int().min(0).max(1_000).optional(),
    rejectPerMille: z.number().int().min(0).max(1_000).optional(),
    outage: z.boolean().optional(),
    fillMode: z.enum(FILL_MODES).optional(),
    /** Re-seeds the PRNG so a fault sequence can be replayed. */
    seed: z.number().int().min(0).max(0xffffffff).optional(),
  })
  .strict();

/** `--order-port 0 --fill-mode none` → { orderPort: 0, fillMode: 'none' } (numbers parsed). */
export function parseVenueArgs(argv: readonly string[]): VenueSimConfig {
  const raw: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) throw new Error(`bad argument near ${flag}`);
    const key = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    raw[key] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return venueSimSchema.parse(raw);
}
