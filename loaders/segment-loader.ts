import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Clock } from '../src/clock.js';
import { GatewayError, isGatewayError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { SegmentManifest } from '../src/wal/manifest.js';
import type { LoaderConfig } from './config.js';
import type { FaultHook } from './fault-hook.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LoadTimeline } from './load-timeline.js';
import type { LoaderMetrics } from './metrics.js';
import { type SegmentFiles, applyRetention, readManifest } from './segment-files.js';
import {
  type BatchSummary,
  type Piece,
  READ_BUFFER_BYTES,
  ReadBufferPool,
  SegmentReader,
  type VerifiedSegment,
  quarantineReasonOf,
} from './segment-reader.js';
import { SegmentState, type SegmentStateStore } from './segment-state-store.js';
import { SerialGate } from './serial-gate.js';
import type { EventSink } from './wal-events-sink.js';

export type LoadOutcome =
  | 'loaded'
  | 'already-loaded'
  | 'verified-present'
  | 'quarantined'
  | 'already-quarantined'
  | 'missing';

/** The claim was live in another attempt's hands: retry once its lease may have run out. */
export class ClaimBusyError extends GatewayError {
  constructor(
    segmentId: string,
    readonly leaseLeftMs: number,
  ) {
    super('GW_ERR_SEGMENT_CLAIM_LOST', `${segmentId} is claimed by another loader`, {
      segmentId,
      leaseLeftMs,
    });
  }
}

export interface SegmentLoaderDeps {
  readonly loaderId: string;
  readonly config: LoaderConfig;
  readonly store: SegmentStateStore;
  readonly sink: EventSink;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: LoaderMetrics;
  readonly fault: FaultHook;
}

/**
 * Loads one sealed segment into ClickHouse, driving its manifest state machine (docs/replay.md):
 *
 *   claim (SEALED → CLAIMED, or take over an expired claim)
 *   dirty? ask ClickHouse what landed: all → LOADED; some → resume after the highest landed seq
 *   CLAIMED → LOADING, stream batches (each checked before it is sent; lease asserted before each)
 *   verify every record is present (distinct business keys == manifest count) → LOADED
 *   retention (archive/delete) → ARCHIVED
 *
 * Safe to run any number of times, concurrently or not: the claim CAS admits one attempt at a time, a
 * zombie attempt cannot advance the state, and rows it may still insert collapse on (producer_id, seq).
 */
export class SegmentLoader {
  /** Pass 1's read buffers, reused: enough free ones for `concurrency` segments of up to 16 MiB. */
  private readonly pool: ReadBufferPool;
  /**
   * Pass 1 (read, sha256, line checks) of one segment at a time. It is CPU on this process's one JS
   * thread either way; run side by side, the passes of `concurrency` segments interleave and all finish
   * late together, so ClickHouse waits for the first INSERT and between INSERTs. One at a time, the
   * first segment is sent after one pass and the next passes overlap its INSERT: INSERTs in flight for
   * 0.93–0.95 of a pinned bench run against 0.77–0.94 (docs/loader-bench.md, "Keeping ClickHouse fed").
   */
  private readonly passOne = new SerialGate();

  constructor(private readonly deps: SegmentLoaderDeps) {
    this.pool = new ReadBufferPool(READ_BUFFER_BYTES, deps.config.concurrency * 16);
  }

  /** `enqueuedAtMs`: when the job was added (wall ms), for the timeline in the segment's last log line. */
  async load(files: SegmentFiles, enqueuedAtMs?: number): Promise<LoadOutcome> {
    const timeline = new LoadTimeline(this.deps.clock);
    if (enqueuedAtMs !== undefined) timeline.mark('enqueued', enqueuedAtMs);
    timeline.mark('start');
    const outcome = await this.loadOnce(files, timeline);
    this.deps.metrics.segmentsDone.inc({ outcome });
    return outcome;
  }

  private async loadOnce(files: SegmentFiles, timeline: LoadTimeline): Promise<LoadOutcome> {
    const { store, config, logger } = this.deps;
    const log = logger.child({ segment_id: files.segmentId });
    let manifest: SegmentManifest | null;
    try {
      manifest = await readManifest(files);
    } catch (err) {
      if (quarantineReasonOf(err) === undefined) throw err;
      return this.quarantineUnreadable(files, err as GatewayError, log);
    }
    if (!manifest) {
      // Gone from the WAL dir: archived or deleted by an earlier run once LOADED; nothing to do.
      const state = (await store.describe(files.segmentId)).state;
      log.info({ state }, 'segment files already gone');
      return 'missing';
    }

    const token = randomUUID();
    const claimedAtMono = this.deps.clock.monoMs();
    const claim = await store.claim(files.segmentId, this.deps.loaderId, token, config.claimTtlMs, manifest);
    switch (claim.kind) {
      case 'already-loaded':
        this.deps.metrics.claims.inc({ outcome: 'already_loaded' });
        if (claim.state === SegmentState.LOADED) await this.retain(files, log, timeline);
        return 'already-loaded';
      case 'quarantined':
        this.deps.metrics.claims.inc({ outcome: 'quarantined' });
        return 'already-quarantined';
      case 'busy':
        this.deps.metrics.claims.inc({ outcome: 'busy' });
        throw new ClaimBusyError(files.segmentId, claim.leaseLeftMs);
      case 'claimed':
        break;
    }
    timeline.mark('claimed');
    const takeover = claim.previous === SegmentState.CLAIMED || claim.previous === SegmentState.LOADING;
    this.deps.metrics.claims.inc({ outcome: takeover ? 'takeover' : 'claimed' });
    log.info({ previous: claim.previous, claims: claim.claims, dirty: claim.dirty }, 'segment claimed');

    const lease = new LeaseKeeper(
      store,
      { segmentId: files.segmentId, token },
      config.claimTtlMs,
      this.deps.clock,
      log,
      claimedAtMono,
    );
    lease.start();
    this.deps.metrics.claimsHeld.inc();
    try {
      return await this.loadClaimed(files, manifest, token, claim.dirty, lease, timeline);
    } catch (err) {
      const reason = quarantineReasonOf(err);
      if (reason) {
        lease.stop();
        await this.quarantine(files, manifest, token, reason, err as GatewayError, log);
        return 'quarantined';
      }
      if (isGatewayError(err, 'GW_ERR_SEGMENT_CLAIM_LOST')) {
        log.warn({ code: err.code }, 'claim lost; another loader finishes this segment');
      } else {
        await this.release(files.segmentId, token, err, log);
      }
      throw err;
    } finally {
      lease.stop();
      this.deps.metrics.claimsHeld.dec();
    }
  }

  private async loadClaimed(
    files: SegmentFiles,
    manifest: SegmentManifest,
    token: string,
    dirty: boolean,
    lease: LeaseKeeper,
    timeline: LoadTimeline,
  ): Promise<LoadOutcome> {
    const { store, sink, config, metrics, fault } = this.deps;
    let from = SegmentState.CLAIMED;
    let resumeAfter = -1;
    if (dirty) {
      // An earlier attempt reached LOADING: some batches may be in ClickHouse. Batches go in seq order and
      // each is one part, so what landed is a prefix; skip it, and verify the whole segment at the end.
      const landed = await this.checked('landed', () => sink.landed(manifest));
      if (landed.distinct >= manifest.recordCount) {
        timeline.mark('verified');
        await this.markLoaded(files, manifest, token, from, lease, timeline);
        return 'verified-present';
      }
      resumeAfter = landed.maxSeq;
    }

    // Pass 1 before anything is sent: a segment that does not match its manifest inserts nothing. A
    // segment of at most one batch's bytes is read once, hashed and line-checked in full before anything
    // is sent (the memory bound per load is one batch either way); a larger one is hashed, then read
    // again and line-checked as it streams.
    let verified: VerifiedSegment | undefined = await this.passOne.run(async () => {
      lease.assertHeld();
      if (manifest.bytes > config.batchBytes) {
        await SegmentReader.verifyFile(files.segmentPath, manifest);
        return undefined;
      }
      return SegmentReader.readVerified(files.segmentPath, manifest, this.pool, {
        batchRows: config.batchRows,
        batchBytes: config.batchBytes,
        skipThroughSeq: resumeAfter,
      });
    });
    timeline.mark('pass1');
    fault('before-insert', files.segmentId);
    lease.assertHeld();
    const beforeLoadingMono = this.deps.clock.monoMs();
    await store.advance(files.segmentId, {
      token,
      from,
      to: SegmentState.LOADING,
      leaseOrRetentionMs: config.claimTtlMs,
    });
    lease.renewedAt(beforeLoadingMono);
    from = SegmentState.LOADING;
    timeline.mark('loading');

    for (let pass = 0; ; pass += 1) {
      await this.insertAll(files, manifest, resumeAfter, lease, verified);
      fault('after-insert', files.segmentId);
      timeline.mark('inserted');
      const landed = await this.checked('verify', () => sink.landed(manifest));
      if (landed.distinct === manifest.recordCount) break;
      if (resumeAfter < 0 || pass > 0) {
        throw new GatewayError(
          'GW_ERR_CLICKHOUSE_UNAVAILABLE',
          `${files.segmentId}: ${landed.distinct} of ${manifest.recordCount} records present after insert`,
          { segmentId: files.segmentId },
        );
      }
      // The landed set was not a prefix (an unexpected gap): insert everything; duplicates collapse.
      this.deps.logger.warn({ segment_id: files.segmentId, landed }, 'resume left a gap; reinserting all');
      resumeAfter = -1;
      if (verified) {
        verified = SegmentReader.replan(files.segmentPath, manifest, verified, {
          batchRows: config.batchRows,
          batchBytes: config.batchBytes,
        });
      }
    }
    timeline.mark('verified');
    // Every INSERT that used these buffers has returned (the server had read each whole body).
    if (verified) this.pool.give(verified.buffers);
    metrics.bytesLoaded.inc(manifest.bytes);
    await this.markLoaded(files, manifest, token, from, lease, timeline);
    return 'loaded';
  }

  /**
   * Sends the segment to ClickHouse, one INSERT per batch. A segment in memory (`verified`) has passed
   * every check already: its batches are sent as they are. A larger one streams, each batch's bytes sent
   * as the reader verifies them (reading overlaps ClickHouse's parsing); a failure errors the body, which
   * cuts that INSERT's connection; ClickHouse 18.16 may still commit the whole records it had received,
   * which all passed pass 1 (the sha256) and their own checks: real records with their real keys.
   */
  private async insertAll(
    files: SegmentFiles,
    manifest: SegmentManifest,
    resumeAfter: number,
    lease: LeaseKeeper,
    verified: VerifiedSegment | undefined,
  ): Promise<void> {
    const { sink, config, metrics, fault } = this.deps;
    if (verified) {
      let inserted = 0;
      for (const batch of verified.batches) {
        lease.assertHeld();
        const stop = metrics.insertSeconds.startTimer();
        await this.checked('insert', () =>
          sink.insert(
            files.segmentId,
            {
              index: batch.index,
              body: bodyOf(batch.chunks),
              dedupToken: batchDedupToken(manifest, resumeAfter, config, batch.index),
            },
            lease.signal,
          ),
        );
        stop();
        metrics.rowsLoaded.inc(batch.rows);
        inserted += batch.rows;
        if (batch.index === 0) fault('mid-insert', files.segmentId);
      }
      if (resumeAfter >= 0) metrics.skippedRows.inc(manifest.recordCount - inserted);
      return;
    }
    const reader = new SegmentReader(files.segmentPath, manifest, {
      batchRows: config.batchRows,
      batchBytes: config.batchBytes,
      skipThroughSeq: resumeAfter,
    });
    let inserted = 0;
    try {
      for (let index = 0; ; index += 1) {
        let pending: Piece | undefined = await reader.nextPiece();
        if (pending.kind === 'eof') break;
        lease.assertHeld();
        let summary: BatchSummary | undefined;
        let bodyError: unknown;
        const body = new Readable({
          read() {
            const piece = pending ? Promise.resolve(pending) : reader.nextPiece();
            pending = undefined;
            piece.then(
              (p) => {
                if (p.kind === 'bytes') body.push(p.bytes);
                else {
                  if (p.kind === 'batch-end') summary = p.batch;
                  body.push(null);
                }
              },
              (err) => {
                bodyError = err;
                body.destroy(err);
              },
            );
          },
        });
        const stop = metrics.insertSeconds.startTimer();
        try {
          await this.checked('insert', () =>
            sink.insert(
              files.segmentId,
              { index, body, dedupToken: batchDedupToken(manifest, resumeAfter, config, index) },
              lease.signal,
            ),
          );
        } catch (err) {
          throw bodyError ?? err;
        }
        stop();
        if (bodyError) throw bodyError;
        if (!summary)
          throw new GatewayError('GW_ERR_INTERNAL', `${files.segmentId}: INSERT ended before its batch`);
        metrics.rowsLoaded.inc(summary.rows);
        inserted += summary.rows;
        if (index === 0) fault('mid-insert', files.segmentId);
      }
    } finally {
      await reader.close();
    }
    if (resumeAfter >= 0) metrics.skippedRows.inc(manifest.recordCount - inserted);
  }

  private async markLoaded(
    files: SegmentFiles,
    manifest: SegmentManifest,
    token: string,
    from: SegmentState,
    lease: LeaseKeeper,
    timeline: LoadTimeline,
  ): Promise<void> {
    lease.assertHeld();
    await this.deps.store.advance(files.segmentId, {
      token,
      from,
      to: SegmentState.LOADED,
      rows: manifest.recordCount,
      bytes: manifest.bytes,
    });
    lease.stop();
    timeline.mark('loaded');
    this.deps.fault('after-loaded', files.segmentId);
    await this.retain(files, this.deps.logger.child({ segment_id: files.segmentId }), timeline);
  }

  /** Retention runs only once LOADED is in Redis (this or an earlier run put it there). */
  private async retain(files: SegmentFiles, log: Logger, timeline: LoadTimeline): Promise<void> {
    await applyRetention(files, this.deps.config.retention);
    await this.deps.store.archive(files.segmentId, this.deps.config.stateRetentionMs);
    timeline.mark('archived');
    log.info({ retention: this.deps.config.retention, timeline }, 'segment loaded and retained');
  }

  private async quarantine(
    files: SegmentFiles,
    manifest: SegmentManifest | null,
    token: string,
    reason: string,
    err: GatewayError,
    log: Logger,
  ): Promise<void> {
    await this.deps.store.advance(files.segmentId, {
      token,
      from: await this.currentClaimState(files.segmentId),
      to: SegmentState.QUARANTINED,
      reason: `${reason}: ${err.message}`.slice(0, 1_000),
    });
    this.deps.metrics.quarantined.inc({ reason });
    log.error(
      { code: err.code, reason, err, records: manifest?.recordCount },
      'segment QUARANTINED; the rest continues (runbooks/loader.md)',
    );
  }

  /** A manifest that does not parse still gets a claim (so exactly one loader quarantines it). */
  private async quarantineUnreadable(
    files: SegmentFiles,
    err: GatewayError,
    log: Logger,
  ): Promise<LoadOutcome> {
    const token = randomUUID();
    const claim = await this.deps.store.claim(
      files.segmentId,
      this.deps.loaderId,
      token,
      this.deps.config.claimTtlMs,
      {
        recordCount: 0,
        bytes: 0,
      },
    );
    if (claim.kind === 'busy') throw new ClaimBusyError(files.segmentId, claim.leaseLeftMs);
    if (claim.kind !== 'claimed')
      return claim.kind === 'quarantined' ? 'already-quarantined' : 'already-loaded';
    await this.quarantine(files, null, token, 'manifest_invalid', err, log);
    return 'quarantined';
  }

  private async currentClaimState(segmentId: string): Promise<SegmentState> {
    const state = (await this.deps.store.describe(segmentId)).state;
    return state === SegmentState.LOADING ? SegmentState.LOADING : SegmentState.CLAIMED;
  }

  /** Gives the claim back after a failure so the retry need not wait for the lease (best effort). */
  private async release(segmentId: string, token: string, err: unknown, log: Logger): Promise<void> {
    const from = await this.currentClaimState(segmentId).catch(() => SegmentState.CLAIMED);
    await this.deps.store
      .advance(segmentId, { token, from, to: SegmentState.SEALED, reason: String(err).slice(0, 500) })
      .catch((releaseErr) => log.debug({ err: releaseErr }, 'release failed; the lease will expire'));
    log.warn({ err }, 'segment load failed; will retry with backoff');
  }

  private async checked<T>(stage: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      this.deps.metrics.insertErrors.inc({ stage });
      throw err;
    }
  }
}

/** A verified batch's bytes as an INSERT body: all of it pushed at once (it is in memory already). */
function bodyOf(chunks: readonly Buffer[]): Readable {
  return new Readable({
    read() {
      for (const chunk of chunks) this.push(chunk);
      this.push(null);
    },
  });
}

/**
 * The `insert_deduplication_token` of one batch (used where the server supports it): equal tokens must
 * mean equal rows, or the server would drop a batch it never got. A batch's rows are fixed by the file's
 * bytes (sha256, checked before anything commits), where the attempt resumes, the batch bounds and the
 * batch's index, so all of them are in it: a loader restarted with other batch bounds gets new tokens.
 */
export function batchDedupToken(
  manifest: Pick<SegmentManifest, 'segmentId' | 'sha256'>,
  resumeAfter: number,
  config: Pick<LoaderConfig, 'batchRows' | 'batchBytes'>,
  index: number,
): string {
  return [
    manifest.segmentId,
    manifest.sha256.slice(0, 16),
    resumeAfter,
    config.batchRows,
    config.batchBytes,
    index,
  ].join(':');
}
