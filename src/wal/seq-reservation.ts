import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { writeHighWater } from './high-water.js';

const MAX_RETRY_DELAY_MS = 1_000;

export interface SeqReservationDeps {
  readonly producerDir: string;
  readonly producerId: string;
  /** Numbers per durable high-water write. */
  readonly block: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called when a reservation write fails (the writer counts it). */
  readonly onWriteError: () => void;
}

/**
 * The producer's durable sequence reservation (see high-water.ts and docs/wal.md "Sequences"). The writer
 * may hand out a number only while `covers(seq)`; `next(lastHanded)` starts the durable write of the next
 * block once half of the current one is used, in the background and one at a time, so `record()` never
 * waits on it unless a whole half block goes by before the write lands.
 */
export class SeqReservation {
  /** The durable mark: every number up to it may be handed out. */
  private reserved: number;
  /** Once a number at or above this is handed out, the next block is due. */
  private refillAt: number;
  private pending: Promise<void> | undefined;
  private failures = 0;
  private retryAtMs = 0;
  private stopped = false;

  private constructor(
    private readonly deps: SeqReservationDeps,
    reserved: number,
  ) {
    this.reserved = reserved;
    this.refillAt = this.refillPoint();
  }

  /** Reserves the first block above `lastSeq` durably; no number may be handed out before this resolves. */
  static async open(deps: SeqReservationDeps, lastSeq: number): Promise<SeqReservation> {
    const reserved = lastSeq + deps.block;
    await writeHighWater(deps.producerDir, deps.producerId, reserved);
    return new SeqReservation(deps, reserved);
  }

  get reservedThrough(): number {
    return this.reserved;
  }

  /**
   * True when `seq` may be handed out now. Starts the next block's write when it is due (hot path: one
   * comparison until then).
   */
  covers(seq: number): boolean {
    if (seq < this.refillAt) return true;
    this.refill(seq - 1);
    return seq <= this.reserved;
  }

  /**
   * After a clean close (every number handed out is sealed), lowers the mark to `lastSeq` so the next
   * start continues without a gap. Best effort: on failure the next start skips the rest of the block,
   * which is allowed.
   */
  async release(lastSeq: number): Promise<void> {
    this.stopped = true;
    await this.pending;
    if (lastSeq >= this.reserved) return;
    try {
      await writeHighWater(this.deps.producerDir, this.deps.producerId, lastSeq);
      this.reserved = lastSeq;
    } catch (err) {
      this.deps.logger.warn(
        { err },
        'WAL could not release the unused sequence reservation; next start skips it',
      );
    }
  }

  private refillPoint(): number {
    return this.reserved - Math.floor(this.deps.block / 2) + 1;
  }

  private refill(lastHanded: number): void {
    const { deps } = this;
    if (this.pending !== undefined || this.stopped) return;
    if (this.failures > 0 && deps.clock.monoMs() < this.retryAtMs) return;
    const target = lastHanded + deps.block;
    this.pending = writeHighWater(deps.producerDir, deps.producerId, target)
      .then(
        () => {
          this.failures = 0;
          if (target > this.reserved) {
            this.reserved = target;
            this.refillAt = this.refillPoint();
          }
        },
        (err: unknown) => {
          this.failures++;
          this.retryAtMs = deps.clock.monoMs() + Math.min(MAX_RETRY_DELAY_MS, 10 * 2 ** this.failures);
          deps.onWriteError();
          deps.logger.error({ err, target }, 'WAL sequence reservation failed; will retry');
        },
      )
      .finally(() => {
        this.pending = undefined;
      });
  }
}
