import { z } from 'zod';

/**
 * Config section `broker`: how the gateway reaches its venue. `tcp` is the venue-sim NDJSON protocol
 * (docs/venue-sim.md). A request not answered within `requestTimeoutMs` has an unknown outcome
 * (GW_ERR_BROKER_TIMEOUT) and must be reconciled by client order id, never blindly retried.
 */
export const brokerSection = z
  .object({
    kind: z.enum(['tcp']).default('tcp'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65_535).default(7_001),
    connectTimeoutMs: z.number().int().min(10).max(60_000).default(1_000),
    requestTimeoutMs: z.number().int().min(10).max(600_000).default(2_000),
    reconnectBaseMs: z.number().int().min(1).max(60_000).default(50),
    reconnectMaxMs: z.number().int().min(1).max(600_000).default(2_000),
    /** Requests awaiting an answer; beyond it a request fails GW_ERR_BROKER_UNAVAILABLE without being sent. */
    maxInFlight: z.number().int().min(1).max(1_000_000).default(10_000),
  })
  .strict();

export type BrokerConfig = z.infer<typeof brokerSection>;
