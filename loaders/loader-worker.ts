import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { backoffMs } from '../src/channel/backoff.js';
import { GatewayError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { LoaderConfig } from './config.js';
import { LOAD_JOB_NAME, type LoadJobData, insideRoots } from './load-job.js';
import { ClaimBusyError, type LoadOutcome, type SegmentLoader } from './segment-loader.js';
import { segmentFiles } from './segment-files.js';

export interface LoaderWorkerOptions {
  readonly connection: Redis;
  readonly prefix: string;
  readonly config: LoaderConfig;
  readonly walDirs: readonly string[];
  readonly loader: SegmentLoader;
  readonly logger: Logger;
}

/**
 * The BullMQ side of a loader: takes load jobs (at most `concurrency` at once: the backpressure bound)
 * and hands each to the SegmentLoader. BullMQ only delivers work, at least once; what a job does is
 * decided by the segment's manifest state in Redis.
 */
export class LoaderWorker {
  private worker: Worker<LoadJobData, LoadOutcome> | undefined;

  constructor(private readonly opts: LoaderWorkerOptions) {}

  start(): void {
    const { config } = this.opts;
    this.worker = new Worker<LoadJobData, LoadOutcome>(config.queueName, (job) => this.process(job), {
      connection: this.opts.connection,
      prefix: this.opts.prefix,
      concurrency: config.concurrency,
      lockDuration: config.jobLockMs,
      stalledInterval: config.stalledIntervalMs,
      // A job whose worker died is redelivered, never failed for it: the claim lease settles who loads.
      maxStalledCount: 1_000_000,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
          err instanceof ClaimBusyError
            ? err.leaseLeftMs + Math.floor(Math.random() * 100)
            : Math.max(config.retryBaseMs, backoffMs(attemptsMade, config.retryBaseMs, config.retryMaxMs)),
      },
    });
    this.worker.on('error', (err) => this.opts.logger.warn({ err }, 'BullMQ worker error'));
  }

  async stop(): Promise<void> {
    await this.worker?.close();
  }

  private async process(job: Job<LoadJobData, LoadOutcome>): Promise<LoadOutcome> {
    if (job.name !== LOAD_JOB_NAME || !insideRoots(job.data.manifestPath, this.opts.walDirs)) {
      throw new GatewayError('GW_ERR_INTERNAL', `job ${job.id} names a path outside the WAL dirs`, {
        jobId: job.id,
      });
    }
    return this.opts.loader.load(segmentFiles(job.data.manifestPath), job.timestamp);
  }
}
