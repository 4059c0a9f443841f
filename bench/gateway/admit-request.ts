import type { IntentEnvelope } from '../../src/contracts/intent.js';
import type { AdmitRequest, GatewayStore } from '../../src/gateway/gateway-store.js';
import { GatewayScriptCode } from '../../src/gateway/script-codes.js';

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

/**
 * Admits `count` requests with `concurrency` intents outstanding, `perCall` per script call, and throws on
 * any answer but ADMITTED (a bench that rejects would measure the reject path). `onCall` gets each call's
 * latency in ms.
 */
export async function admitAll(
  store: GatewayStore,
  count: number,
  concurrency: number,
  perCall: number,
  request: (i: number) => AdmitRequest,
  onCall: (ms: number) => void = () => {},
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.ceil(concurrency / perCall)) }, async () => {
      while (next < count) {
        const first = next;
        next = Math.min(count, next + perCall);
        const requests = [];
        for (let i = first; i < next; i++) requests.push(request(i));
        const t0 = performance.now();
        const answers = await store.admitMany(requests);
        const bad = answers.find((a) => a.code !== GatewayScriptCode.ADMITTED);
        if (bad) throw new Error(`admit answered ${bad.code} ${bad.detail}`);
        onCall(performance.now() - t0);
      }
    }),
  );
}
