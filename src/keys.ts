/**
 * Every Redis key the cluster uses, in one place. All share the configured hash tag (default `{hft}`) so
 * any multi-key Lua script stays valid on Redis Cluster. Subsystems add their keys here, not inline.
 */
export class Keyspace {
  constructor(readonly prefix: string) {}

  /** Intent stream (consumer group `channel.group`); entries are XDEL'd once acknowledged. */
  intentStream(stream: string): string {
    return `${this.prefix}:stream:${stream}`;
  }
  /** Dead-letter stream for entries delivered more than `channel.maxDeliveries` times. */
  deadLetterStream(stream: string): string {
    return `${this.prefix}:dlq:${stream}`;
  }
  /** Hash entry-id → last handler error, so a dead letter says why it died. */
  deliveryErrors(stream: string): string {
    return `${this.prefix}:delivery-errors:${stream}`;
  }
  /** Stored decision per idempotency key (the dedup window). */
  decision(idempotencyKey: string): string {
    return `${this.prefix}:decision:${idempotencyKey}`;
  }
  /** Per-client reply stream, capped and expiring. */
  replyStream(clientId: string): string {
    return `${this.prefix}:reply:${clientId}`;
  }

  /** Fencing epoch: INCR'd by each new leader; every state-mutating script checks it. */
  epoch(): string {
    return `${this.prefix}:epoch`;
  }
  /** Cluster-wide policy hash: mode (NORMAL|DEGRADED|HALT), reason, actor, changed_ts_ns. */
  policy(): string {
    return `${this.prefix}:policy`;
  }
}
