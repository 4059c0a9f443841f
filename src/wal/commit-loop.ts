import type { Logger } from '../log.js';

/** What the loop drives: one commit at a time, and what to do after it. */
export interface CommitTarget {
  commit(): Promise<void>;
  /** True when more work is already due after a commit (a size threshold was reached meanwhile). */
  hasDueWork(): boolean;
  /** A commit threw. Returns the delay before retrying, or null to give up (the target failed its waiters). */
  onFailure(err: unknown, failures: number): number | null;
}

/**
 * Runs a target's commits one at a time, off the caller's path: `kick()` from any code schedules a run
 * on the next turn of the event loop (or, when a commit is running, one more commit after it). A failed
 * commit is retried after the target's backoff; kicks during the backoff wait for it.
 */
export class CommitLoop {
  private running = false;
  private scheduled = false;
  private again = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly target: CommitTarget,
    private readonly logger: Logger,
  ) {}

  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled || this.retryTimer !== undefined) return;
    this.scheduled = true;
    setImmediate(() => void this.run());
  }

  /** Resolves once no commit is running or scheduled. */
  idle(): Promise<void> {
    if (!this.running && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.scheduled = false;
    if (this.running) return;
    this.running = true;
    try {
      do {
        this.again = false;
        await this.target.commit();
      } while (this.again || this.target.hasDueWork());
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const delay = this.target.onFailure(err, this.failures);
      this.logger.error({ err, failures: this.failures, retry_in_ms: delay }, 'WAL commit failed; data kept');
      if (delay !== null) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, delay);
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
