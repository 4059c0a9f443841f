/**
 * The gateway's view of leadership. The gateway calls scripts with `epoch` and checks `mayDispatch()`
 * immediately before every broker send. In a single-process set-up the permit is a fixed epoch taken by
 * INCR at start; under HA (`ha/`) it is backed by the redlock lease and drops to false before the lease
 * can expire (self-fencing by time).
 */
export interface DispatchPermit {
  /** Fencing epoch this process holds; every state-mutating script receives it. */
  readonly epoch: number;
  /** True only while this process may send to the broker at this instant. */
  mayDispatch(): boolean;
  /** A script answered FENCED (a newer epoch exists): the holder must stop dispatching at once. */
  onFenced(currentEpoch: number): void;
}
