/**
 * The leader lease as the role machine sees it: acquire, renew, release. Validity is expressed on the
 * monotonic clock of this process (never the wall clock), measured from the instant the request was sent,
 * so it is always an under-estimate of how long the lease nodes will keep the key.
 */
export interface Lease {
  /** Random value stored on the lease nodes; only its holder can extend or release it. */
  readonly token: string;
  /** Monotonic ms (Clock.monoMs) after which this holder must assume another process may hold the lease. */
  readonly validUntilMs: number;
}

export type RenewOutcome =
  | { readonly ok: true; readonly lease: Lease }
  /**
   * `lost`: a majority of nodes hold another value (or none): the lease is definitively gone.
   * Otherwise the nodes did not answer in time: the lease may still be ours until `validUntilMs`.
   */
  | { readonly ok: false; readonly lost: boolean; readonly reason: string };

/** What one lease node holds, as a standby sees it (dead-holder detection and expiry scheduling). */
export interface NodeLeaseView {
  /** False when the node did not answer. */
  readonly reachable: boolean;
  /** The lease value on this node, null when the key is absent. */
  readonly token: string | null;
  /** Remaining time of the key in ms (PTTL); 0 when absent. */
  readonly remainingMs: number;
  /** True when the holder named in the value has no open lease connection to this node. */
  readonly holderGone: boolean;
}

export interface LeaseView {
  readonly nodes: readonly NodeLeaseView[];
  /**
   * Earliest time (ms from now) at which a majority of nodes could grant the lease: absent keys now,
   * dead holders' keys once quiet (when breaking is enabled), others at expiry. null: not foreseeable
   * (a majority does not answer).
   */
  readonly majorityFreeInMs: number | null;
  /** Nodes whose key may be broken right now (holder gone, quiet long enough). */
  readonly breakableNow: number;
}

export interface LeaseKeeper {
  /** Number of lease nodes and the majority needed. */
  readonly nodes: number;
  readonly quorum: number;
  /** One attempt (no internal retries): the lease, or null when held elsewhere or no majority answered. */
  tryAcquire(): Promise<Lease | null>;
  renew(lease: Lease): Promise<RenewOutcome>;
  /** Best effort: deletes the key where it still holds this token. Never throws. */
  release(lease: Lease): Promise<void>;
  /**
   * Standby: what each node holds (GET, PTTL and the node's client list in one round trip per node).
   * Never throws; a node that does not answer is reported unreachable.
   */
  inspect(): Promise<LeaseView>;
  /**
   * Deletes the lease on the nodes of `view` where it is breakable now, each by a Lua CAS on the value seen
   * that also refuses a key extended within the quiet period. Returns how many nodes it deleted.
   */
  breakDead(view: LeaseView): Promise<number>;
  /** Lease-node connections open right now (synchronous: read on every dispatch check). */
  connectedNodes(): number;
  /** Called (synchronously from the connection's close handling) whenever a lease-node connection closes. */
  onDisconnect(listener: (connected: number) => void): void;
  /** Per node: reachable or not (for status and tests). */
  nodeHealth(): Promise<boolean[]>;
  close(): Promise<void>;
}
