import type { JsonPayload } from './json-payload.js';

/**
 * What runtime code records events through. Implementations: the WAL-first writer (default) and the
 * direct ClickHouse recorder (compatibility mode). Callers never await the disk or the network.
 */
export const WAL_TOPICS = [
  'gateway.intent',
  'gateway.decision',
  'gateway.dispatch',
  'gateway.ack',
  'gateway.fill',
  'gateway.policy',
  'ha.role',
  'market.tick',
  'market.bidask',
] as const;
export type WalTopic = (typeof WAL_TOPICS)[number];

export interface EventRecorder {
  /**
   * Records one event (serialized as JSON) and returns its per-producer sequence number. Never blocks
   * on I/O. Throws GatewayError GW_ERR_WAL_HALTED (disk pressure / topic policy halt),
   * GW_ERR_WAL_QUEUE_FULL (writer cannot keep up) or GW_ERR_WAL_CLOSED. A record dropped by a `drop`
   * topic policy returns -1 and is counted.
   */
  record(topic: WalTopic, payload: unknown): number;
  /**
   * Optional fast path: an event built as a JsonPayload (already in the escaped form a record holds,
   * validated by construction), recorded byte for byte as `record()` would record its value, without
   * serializing again. Both implementations have it; a test double may leave it out. Same errors; a
   * failed or incomplete payload is GW_ERR_WAL_RECORD_INVALID.
   */
  recordJson?(topic: WalTopic, json: JsonPayload): number;
}
