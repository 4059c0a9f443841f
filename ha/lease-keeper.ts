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

export interface LeaseKeeper {
  /** Number of lease nodes and the majority needed. */
  readonly nodes: number;
  readonly quorum: number;
  /** One attempt (no internal retries): the lease, or null when held elsewhere or no majority answered. */
  tryAcquire(): Promise<Lease | null>;
  renew(lease: Lease): Promise<RenewOutcome>;
  /** Best effort: deletes the key where it still holds this token. Never throws. */
  release(lease: Lease): Promise<void>;
  /** Per node: reachable or not (for status and tests). */
  nodeHealth(): Promise<boolean[]>;
  close(): Promise<void>;
}
