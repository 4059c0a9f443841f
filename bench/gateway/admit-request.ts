import type { IntentEnvelope } from '../../src/contracts/intent.js';
import type { AdmitRequest } from '../../src/gateway/gateway-store.js';

/** Limits far above anything a bench run reserves: the ceiling rows measure the script, not rejects. */
const UNREACHABLE_LIMITS = { symbol: 1e15, strategy: 1e15, account: 1e15 };

/** The admit request the benches send for one envelope: NORMAL policy, a 60 s deadline, no limit in reach. */
export function benchAdmitRequest(
  envelope: IntentEnvelope,
  clientOrderId: string,
  epoch: number,
): AdmitRequest {
  const nowMs = Date.now();
  return {
    envelope,
    clientOrderId,
    epoch,
    policyFloor: 'NORMAL',
    nowMs,
    deadlineMs: nowMs + 60_000,
    limits: UNREACHABLE_LIMITS,
    maxTrackedSymbols: 10_000,
  };
}
