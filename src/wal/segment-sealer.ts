import type { Logger } from '../log.js';
import type { SegmentFile } from './segment-file.js';
import type { WalMetrics } from './wal-metrics.js';

/**
 * Seals segments for the writer. A seal that fails (ENOSPC on the manifest, say) is queued and retried,
 * in order, before the next seal; if the process dies first, recovery completes it on the next open.
 * The high-water mark needs no update here: the writer reserved every sealed number before handing it out.
 */
export class SegmentSealer {
  private readonly failed: SegmentFile[] = [];

  constructor(private readonly deps: { metrics: WalMetrics; logger: Logger; nowNs: () => string }) {}

  /** Seals `segment` after any earlier failed seals, which keep their order. */
  async seal(segment: SegmentFile): Promise<void> {
    this.failed.push(segment);
    await this.retryFailed();
  }

  async retryFailed(): Promise<void> {
    while (this.failed.length > 0) await this.sealOne(this.failed.shift() as SegmentFile);
  }

  private async sealOne(segment: SegmentFile): Promise<void> {
    try {
      const manifest = await segment.seal(this.deps.nowNs());
      this.deps.metrics.sealed.inc({ topic: segment.topic });
      this.deps.logger.debug(
        { segment: manifest.segmentId, records: manifest.recordCount, bytes: manifest.bytes },
        'WAL segment sealed',
      );
    } catch (err) {
      this.failed.unshift(segment);
      this.deps.metrics.writeErrors.inc({ op: 'seal' });
      this.deps.logger.error({ err, segment: segment.id }, 'WAL seal failed; will retry');
      throw err;
    }
  }
}
