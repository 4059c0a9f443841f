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

  /**
   * Hash component → layout version of what this state Redis holds (e.g. `journal` → 2), raised by the
   * first writer of a newer layout; a release that reads only older ones refuses to run (src/redis/layout.ts).
   */
  layout(): string {
    return `${this.prefix}:layout`;
  }
  /** Fencing epoch: INCR'd by each new leader; every state-mutating script checks it. */
  epoch(): string {
    return `${this.prefix}:epoch`;
  }
  /** Redlock lease key on every lease node (not the state Redis): value = the holder's random token. */
  leaderLease(name: string): string {
    return `${this.prefix}:lease:${name}`;
  }
  /** Hash processId → JSON status of each HA gateway (role, epoch, lease remaining, ops URL, updated). */
  haMembers(): string {
    return `${this.prefix}:ha:members`;
  }
  /** Capped stream of HA role transitions (process_id, from, to, epoch, reason, ts_ns) from every gateway. */
  haEvents(): string {
    return `${this.prefix}:ha:events`;
  }
  /** Cluster-wide policy hash: mode (NORMAL|DEGRADED|HALT), reason, actor, changed_ts_ns. */
  policy(): string {
    return `${this.prefix}:policy`;
  }
  /** Capped stream of policy transitions (from, to, reason, actor, changed_ts_ns): the "why" for operators. */
  policyHistory(): string {
    return `${this.prefix}:policy-history`;
  }

  /**
   * Exposure hash of one account (gateway admit/outcome/execution scripts). Fields `<level>|<metric>` with
   * level `P|<strategy>|<symbol>`, `S|<symbol>`, `T|<strategy>` or `A`, and metric q (filled net lots),
   * fn (filled net notional), rbq/rb (reserved buy lots/notional), rsq/rs (reserved sell lots/notional).
   */
  exposure(account: string): string {
    return `${this.prefix}:exposure:${account}`;
  }
  /** Set of symbols the account's exposure hash tracks (bounded by exposure.maxTrackedSymbols). */
  exposureSymbols(account: string): string {
    return `${this.prefix}:exposure-symbols:${account}`;
  }
  /** Subset of exposureSymbols whose balance is zero: evicted first when the bound is reached. */
  exposureIdle(account: string): string {
    return `${this.prefix}:exposure-idle:${account}`;
  }
  /** Dispatch journal entry of one client order id: state ADMITTED|DISPATCHED|REJECTED|EXPIRED and the reservation. */
  journal(clientOrderId: string): string {
    return `${this.prefix}:journal:${clientOrderId}`;
  }
  /** Sorted set of client order ids whose journal entry is ADMITTED (score: admit time, ms). */
  journalAdmitted(): string {
    return `${this.prefix}:journal-admitted`;
  }
  /** Sorted set of client order ids of NEW orders DISPATCHED and still open at the venue (score: ms). */
  journalOpen(): string {
    return `${this.prefix}:journal-open`;
  }

  /**
   * Manifest state of one sealed WAL segment (loaders): state SEALED|CLAIMED|LOADING|LOADED|ARCHIVED|
   * QUARANTINED, claim worker/token/lease_until, dirty, claims, loaded_rows, reason. Expires only after
   * ARCHIVED (loader.stateRetentionMs).
   */
  segmentState(segmentId: string): string {
    return `${this.prefix}:segment:${segmentId}`;
  }
  /** Cluster-wide loader counters: loaded_segments, loaded_rows, loaded_bytes, quarantined_segments. */
  segmentStats(): string {
    return `${this.prefix}:segment-stats`;
  }
  /**
   * Capped stream of validated quotes for strategy workers, one per quote topic (`tick`, `bidask`):
   * each entry is one batch (fields `n`, `quotes` = JSON array of normalized quotes). See docs/quotes.md.
   */
  quoteStream(topic: string): string {
    return `${this.prefix}:quotes:${topic}`;
  }
  /** BullMQ key prefix: the hash tag keeps every queue key in the same slot as the manifest keys. */
  bullmqPrefix(): string {
    return `${this.prefix}:bull`;
  }
}
