import type { Queue } from 'bullmq';
import type { LoaderConfig } from './config.js';
import { LOAD_JOB_NAME, type LoadJobData, loadJobOptions } from './load-job.js';
import type { SegmentState, SegmentStateStore } from './segment-state-store.js';

/**
 * Operator replay of one segment (runbooks/loader.md): its files must be back in the WAL dir. Puts the
 * manifest state back to SEALED and re-queues its job at once (a completed job with the same id would
 * otherwise keep deduplicating until the scheduler's rescue). `check`: the load first asks ClickHouse
 * what landed; `force`: it inserts every record again (duplicates collapse on the business key).
 * Returns the previous state, or null when a loader holds a live claim on it (nothing changed).
 */
export async function replaySegment(
  deps: { store: SegmentStateStore; queue: Queue<LoadJobData>; config: LoaderConfig },
  segment: LoadJobData,
  mode: 'check' | 'force',
): Promise<SegmentState | null> {
  const previous = await deps.store.replay(segment.segmentId, mode);
  if (previous === null) return null;
  const job = await deps.queue.getJob(segment.segmentId);
  const state = job ? await job.getState() : undefined;
  if (job && (state === 'completed' || state === 'failed')) await job.retry(state);
  else if (!job) await deps.queue.add(LOAD_JOB_NAME, segment, loadJobOptions(segment.segmentId, deps.config));
  return previous;
}
