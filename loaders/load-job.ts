import { isAbsolute, relative, resolve } from 'node:path';
import type { JobsOptions } from 'bullmq';
import type { LoaderConfig } from './config.js';

/** The data of a load job. The job id is the segment id; the manifest path says where its files are. */
export interface LoadJobData {
  readonly segmentId: string;
  readonly manifestPath: string;
}

export const LOAD_JOB_NAME = 'load-segment';

/**
 * Options of every load job. Retries use the worker's custom backoff (exponential, capped, full jitter;
 * a busy claim waits for its lease). Completed jobs are kept `completedJobRetentionMs` so re-adding the
 * same segment id stays a no-op for longer than a segment stays in the WAL dir once loaded (retention
 * moves it out in the same job); if a job is nevertheless re-run, the manifest state makes it a no-op.
 */
export function loadJobOptions(segmentId: string, cfg: LoaderConfig): JobsOptions {
  return {
    jobId: segmentId,
    attempts: cfg.maxAttempts,
    backoff: { type: 'segment' },
    removeOnComplete: {
      age: Math.ceil(cfg.completedJobRetentionMs / 1_000),
      count: cfg.completedJobRetentionCount,
    },
    removeOnFail: { count: cfg.completedJobRetentionCount },
  };
}

/** True when `path` lies inside one of the WAL roots (a job never makes a loader read elsewhere). */
export function insideRoots(path: string, roots: readonly string[]): boolean {
  const target = resolve(path);
  return roots.some((root) => {
    const rel = relative(resolve(root), target);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  });
}
