import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Clock } from '../src/clock.js';
import type { Logger } from '../src/log.js';
import { MANIFEST_SUFFIX, type SegmentManifest } from '../src/wal/manifest.js';
import type { LoaderConfig } from './config.js';
import { LOAD_JOB_NAME, type LoadJobData, loadJobOptions } from './load-job.js';
import type { SchedulerMetrics } from './metrics.js';
import { ARCHIVE_DIR } from './segment-files.js';
import {
  FINISHED_STATES,
  SegmentState,
  type SegmentStateStore,
  UNLOADED_STATES,
} from './segment-state-store.js';

/** Directories beside segments that never hold loadable ones. */
const SKIPPED_DIRS = new Set([ARCHIVE_DIR, 'quarantine']);
const RESCUES_PER_SCAN = 100;

interface Seen {
  readonly segmentId: string;
  readonly manifestPath: string;
  /** Null while the manifest does not parse (re-read every scan): the job still runs, and the loader
   *  quarantines it if it stays unreadable. */
  manifest: SegmentManifest | null;
  readonly firstSeenMono: number;
  enqueued: boolean;
}

export interface ScanReport {
  readonly sealed: number;
  readonly enqueued: number;
  readonly backlogSegments: number;
  readonly backlogRows: number;
  readonly quarantined: number;
}

/**
 * The scheduler: scans the WAL roots for sealed segments (a manifest present), enqueues one load job per
 * segment with the segment id as job id, and publishes the backlog gauges. Any number of schedulers may
 * run (one per loader by default): adding an existing job id is a no-op.
 *
 * It also rescues: a segment still unfinished `rescueAfterMs` after it was first seen whose job is gone,
 * completed or failed (a job that exhausted its attempts in a long ClickHouse outage, or a race with a
 * crash) gets its job re-queued. Whatever BullMQ's state, the manifest state decides what a run does.
 */
export class SegmentScheduler {
  private readonly seen = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastStats: { mono: number; rows: number } | undefined;
  private rowsPerSecond = 0;
  private rescueCursor = 0;

  constructor(
    private readonly opts: {
      readonly queue: Queue<LoadJobData>;
      readonly store: SegmentStateStore;
      readonly walDirs: readonly string[];
      readonly config: LoaderConfig;
      readonly clock: Clock;
      readonly logger: Logger;
      readonly metrics: SchedulerMetrics;
    },
  ) {}

  start(): void {
    const tick = async () => {
      try {
        await this.scanOnce();
      } catch (err) {
        this.opts.metrics.scanErrors.inc();
        this.opts.logger.warn({ err }, 'WAL scan failed; retrying next interval');
      }
      if (this.timer !== undefined) this.timer = setTimeout(run, this.opts.config.scheduler.scanIntervalMs);
    };
    const run = () => {
      this.running = tick();
    };
    this.timer = setTimeout(run, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async scanOnce(): Promise<ScanReport> {
    const { store, queue, config, clock, metrics } = this.opts;
    const present = await this.listSealed();
    for (const id of this.seen.keys()) if (!present.has(id)) this.seen.delete(id);

    const entries = [...this.seen.values()];
    const states = await store.states(entries.map((e) => e.segmentId));
    const nowMono = clock.monoMs();
    const toEnqueue: Seen[] = [];
    const toRescue: Seen[] = [];
    let backlogBytes = 0;
    let backlogRows = 0;
    let backlogSegments = 0;
    let quarantined = 0;
    let oldestSealedNs: bigint | undefined;
    entries.forEach((entry, i) => {
      const state = states[i] as SegmentState;
      if (state === SegmentState.QUARANTINED) quarantined += 1;
      if (FINISHED_STATES.has(state)) return;
      if (UNLOADED_STATES.has(state)) {
        backlogSegments += 1;
        backlogBytes += entry.manifest?.bytes ?? 0;
        backlogRows += entry.manifest?.recordCount ?? 0;
        const sealed = entry.manifest ? BigInt(entry.manifest.sealedTsNs) : undefined;
        if (sealed !== undefined && (oldestSealedNs === undefined || sealed < oldestSealedNs))
          oldestSealedNs = sealed;
      }
      if (!entry.enqueued) toEnqueue.push(entry);
      else if (nowMono - entry.firstSeenMono > config.scheduler.rescueAfterMs) toRescue.push(entry);
    });

    if (toEnqueue.length > 0) {
      // Oldest first: segment ids sort by producer, topic and first seq.
      toEnqueue.sort((a, b) => (a.segmentId < b.segmentId ? -1 : 1));
      for (let i = 0; i < toEnqueue.length; i += 500) {
        const slice = toEnqueue.slice(i, i + 500);
        await queue.addBulk(
          slice.map((e) => ({
            name: LOAD_JOB_NAME,
            data: { segmentId: e.segmentId, manifestPath: e.manifestPath },
            opts: loadJobOptions(e.segmentId, config),
          })),
        );
        for (const e of slice) e.enqueued = true;
      }
      metrics.enqueued.inc(toEnqueue.length);
    }
    // Rotate through the candidates so a long backlog of merely waiting jobs cannot starve the others.
    const start = toRescue.length > 0 ? this.rescueCursor % toRescue.length : 0;
    this.rescueCursor = start + RESCUES_PER_SCAN;
    await this.rescue([...toRescue.slice(start), ...toRescue.slice(0, start)].slice(0, RESCUES_PER_SCAN));

    const stats = await store.stats();
    this.updateDrainRate(stats.loadedRows, nowMono);
    const lagSeconds =
      oldestSealedNs === undefined ? 0 : Math.max(0, Number(clock.wallNs() - oldestSealedNs) / 1e9);
    metrics.backlogSegments.set(backlogSegments);
    metrics.backlogBytes.set(backlogBytes);
    metrics.backlogRows.set(backlogRows);
    metrics.replayLagSeconds.set(lagSeconds);
    metrics.quarantinedSegments.set(quarantined);
    metrics.drainRowsPerSecond.set(this.rowsPerSecond);
    metrics.drainEtaSeconds.set(
      backlogRows === 0 ? 0 : this.rowsPerSecond > 0 ? backlogRows / this.rowsPerSecond : -1,
    );
    return { sealed: entries.length, enqueued: toEnqueue.length, backlogSegments, backlogRows, quarantined };
  }

  private async rescue(entries: Seen[]): Promise<void> {
    const { queue, config, metrics, logger } = this.opts;
    for (const entry of entries) {
      const job = await queue.getJob(entry.segmentId);
      if (!job) {
        await queue.add(
          LOAD_JOB_NAME,
          { segmentId: entry.segmentId, manifestPath: entry.manifestPath },
          loadJobOptions(entry.segmentId, config),
        );
        metrics.rescued.inc({ from: 'removed' });
        continue;
      }
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        await job.retry(state).catch((err) => logger.debug({ err }, 'rescue raced another scheduler'));
        metrics.rescued.inc({ from: state });
        logger.info({ segment_id: entry.segmentId, job_state: state }, 'unfinished segment: job re-queued');
      }
    }
  }

  /** EWMA of cluster-wide loaded rows/s from the counter segmentAdvance keeps in Redis. */
  private updateDrainRate(loadedRows: number, nowMono: number): void {
    const last = this.lastStats;
    this.lastStats = { mono: nowMono, rows: loadedRows };
    if (!last || nowMono <= last.mono) return;
    const instant = (Math.max(0, loadedRows - last.rows) * 1_000) / (nowMono - last.mono);
    this.rowsPerSecond = this.rowsPerSecond === 0 ? instant : 0.7 * this.rowsPerSecond + 0.3 * instant;
  }

  /** Every `<root>/<producer>/<topic>/<segmentId>.manifest.json`; new ones are read and remembered. */
  private async listSealed(): Promise<Set<string>> {
    const present = new Set<string>();
    for (const root of this.opts.walDirs) {
      for (const producer of await subdirs(root)) {
        for (const topic of await subdirs(join(root, producer))) {
          const dir = join(root, producer, topic);
          for (const name of await readdir(dir).catch(() => [] as string[])) {
            if (!name.endsWith(MANIFEST_SUFFIX)) continue;
            const segmentId = name.slice(0, -MANIFEST_SUFFIX.length);
            present.add(segmentId);
            const known = this.seen.get(segmentId);
            if (known?.manifest) continue;
            const manifestPath = join(dir, name);
            const manifest = await readFile(manifestPath, 'utf8')
              .then((text) => JSON.parse(text) as SegmentManifest)
              .catch(() => null);
            if (known) known.manifest = manifest;
            else {
              this.seen.set(segmentId, {
                segmentId,
                manifestPath,
                manifest,
                firstSeenMono: this.opts.clock.monoMs(),
                enqueued: false,
              });
            }
          }
        }
      }
    }
    return present;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !SKIPPED_DIRS.has(e.name)).map((e) => e.name);
}
