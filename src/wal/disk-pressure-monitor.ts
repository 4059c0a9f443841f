import { statfs } from 'node:fs/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { WalDiskConfig } from './config.js';

export const DISK_LEVELS = ['OK', 'WARN', 'CRITICAL', 'HALT'] as const;
export type DiskLevel = (typeof DISK_LEVELS)[number];

export interface DiskSample {
  readonly totalBytes: number;
  /** Bytes available to this (unprivileged-equivalent) process: statfs `bavail`, not `bfree`. */
  readonly freeBytes: number;
  readonly freePercent: number;
}

export interface LevelChange {
  readonly from: DiskLevel;
  readonly to: DiskLevel;
  readonly sample: DiskSample;
}
export type LevelHook = (change: LevelChange) => void;

/** Level for a sample: the most severe threshold crossed (free below its percent OR its bytes). */
export function classifyDisk(sample: DiskSample, config: WalDiskConfig): DiskLevel {
  const below = (t: { minFreePercent: number; minFreeBytes: number }) =>
    sample.freePercent < t.minFreePercent || sample.freeBytes < t.minFreeBytes;
  if (below(config.halt)) return 'HALT';
  if (below(config.critical)) return 'CRITICAL';
  if (below(config.warn)) return 'WARN';
  return 'OK';
}

/**
 * Samples the WAL volume with statfs on a timer (never on the append path) and publishes a level. The
 * writer reads `level` per record; hooks fire on every change. A failing statfs is logged and counted and
 * the last known level stays in force: the monitor can never break the write path.
 */
export class DiskPressureMonitor {
  private current: DiskLevel = 'OK';
  private readonly hooks: LevelHook[] = [];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<DiskLevel> | undefined;
  private readonly levelGauge: Gauge;
  private readonly freeGauge: Gauge;
  private readonly failures: Counter;
  private readonly changes: Counter<'to'>;

  constructor(
    private readonly path: string,
    private readonly config: WalDiskConfig,
    private readonly deps: { logger: Logger; registry: Registry },
  ) {
    const registers = [deps.registry];
    this.levelGauge = new Gauge({
      name: 'hft_wal_disk_level',
      help: 'WAL volume pressure level: 0 OK, 1 WARN, 2 CRITICAL, 3 HALT',
      registers,
    });
    this.freeGauge = new Gauge({
      name: 'hft_wal_disk_free_bytes',
      help: 'Free bytes on the WAL volume',
      registers,
    });
    this.failures = new Counter({
      name: 'hft_wal_disk_check_failures_total',
      help: 'statfs samples of the WAL volume that failed (last level kept)',
      registers,
    });
    this.changes = new Counter({
      name: 'hft_wal_disk_level_changes_total',
      help: 'Disk pressure level changes, by new level',
      labelNames: ['to'],
      registers,
    });
    this.levelGauge.set(0);
  }

  get level(): DiskLevel {
    return this.current;
  }

  onLevelChange(hook: LevelHook): void {
    this.hooks.push(hook);
  }

  /** Takes a first sample, then samples every checkIntervalMs. */
  async start(): Promise<DiskLevel> {
    const level = await this.check();
    this.timer ??= setInterval(() => void this.check(), this.config.checkIntervalMs);
    this.timer.unref();
    return level;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample now (tests and the admin API call it directly). Never rejects. */
  check(): Promise<DiskLevel> {
    this.checking ??= this.sample().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async sample(): Promise<DiskLevel> {
    let sample: DiskSample;
    try {
      const stats = await statfs(this.path);
      const totalBytes = stats.blocks * stats.bsize;
      const freeBytes = stats.bavail * stats.bsize;
      sample = { totalBytes, freeBytes, freePercent: totalBytes > 0 ? (freeBytes * 100) / totalBytes : 0 };
    } catch (err) {
      this.failures.inc();
      this.deps.logger.warn(
        { err, path: this.path, level: this.current },
        'WAL disk check failed; keeping last level',
      );
      return this.current;
    }
    this.freeGauge.set(sample.freeBytes);
    const next = classifyDisk(sample, this.config);
    if (next !== this.current) this.transition(next, sample);
    return next;
  }

  private transition(to: DiskLevel, sample: DiskSample): void {
    const from = this.current;
    this.current = to;
    this.levelGauge.set(DISK_LEVELS.indexOf(to));
    this.changes.inc({ to });
    const log = {
      from,
      to,
      free_bytes: sample.freeBytes,
      free_percent: Number(sample.freePercent.toFixed(2)),
      path: this.path,
    };
    if (to === 'OK') this.deps.logger.info(log, 'WAL disk pressure level changed');
    else this.deps.logger.warn(log, 'WAL disk pressure level changed');
    for (const hook of this.hooks) {
      try {
        hook({ from, to, sample });
      } catch (err) {
        this.deps.logger.error({ err, from, to }, 'WAL disk level hook threw; ignored');
      }
    }
  }
}
