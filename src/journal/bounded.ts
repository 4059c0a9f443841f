import { isGatewayError } from '../errors.js';

/**
 * Runs `work` over `items` with at most `concurrency` calls in flight, in item order of start. A
 * GW_ERR_FENCED from any call stops the run at once: no further item is started, the calls already in
 * flight are awaited (each meets the same stale epoch at its next script), and the FENCED error is
 * rethrown. Any other error is the caller's to handle inside `work`; one escaping here is rethrown the
 * same way, after the in-flight calls settle (never left running behind the caller). `stop` (optional)
 * is asked before each item: once true, no further item starts and the run resolves normally.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length && !stop()) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        // FENCED wins over any other error: it is the one the caller must act on.
        if (failure === undefined || isGatewayError(err, 'GW_ERR_FENCED')) failure = { err };
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== undefined) throw failure.err;
}
