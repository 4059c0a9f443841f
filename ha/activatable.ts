import type { DispatchPermit } from '../src/gateway/dispatch-permit.js';

/**
 * What the role machine drives: the gateway (src/gateway/gateway.ts) in production, a small real dispatcher
 * in tests. `activate` reconciles the dispatch journal, claims dead consumers' pending entries and starts
 * consuming under the permit; `deactivate` stops reading and resolves once in-flight intents are finished.
 */
export interface Activatable {
  activate(permit: DispatchPermit): Promise<unknown>;
  deactivate(): Promise<void>;
  /** Intents read but not yet answered (for the drill report); absent when the target cannot tell. */
  inFlight?(): number;
}
