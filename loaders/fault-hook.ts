import { writeSync } from 'node:fs';
import type { FaultPoint, LoaderConfig } from './config.js';

/** Called at each named crash point of a load; a no-op unless the test-only `loader.faultHook` is set. */
export type FaultHook = (point: FaultPoint, segmentId: string) => void;

export const noFault: FaultHook = () => {};

/**
 * TEST ONLY (docs/replay.md, "fault hook"). Strikes once, the first time the configured point is
 * reached: prints `HFT_FAULT_POINT <point> <segmentId>` to stdout, then SIGKILLs (a crash) or SIGSTOPs
 * (a pause; the test sends SIGCONT) this process. Synchronous on purpose: nothing else runs in between.
 */
export function createFaultHook(cfg: LoaderConfig['faultHook']): FaultHook {
  if (!cfg) return noFault;
  let fired = false;
  return (point, segmentId) => {
    if (fired || point !== cfg.point) return;
    fired = true;
    writeSync(1, `HFT_FAULT_POINT ${point} ${segmentId}\n`);
    process.kill(process.pid, cfg.action === 'sigkill' ? 'SIGKILL' : 'SIGSTOP');
  };
}
