import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { clickhouseSection } from '../config/sections.js';
import type { Logger } from '../log.js';
import type { WalConfig } from './config.js';
import { DirectRecorder } from './direct-recorder.js';
import type { JsonPayload } from './json-payload.js';
import type { EventRecorder, WalTopic } from './recorder.js';
import { WalWriter } from './wal-writer.js';

export type RecorderMode = WalConfig['mode'];

/** What a process holds: the EventRecorder plus its lifecycle. */
export interface Recorder extends EventRecorder {
  /** Both recorders build lines from a JsonPayload (see EventRecorder.recordJson). */
  recordJson(topic: WalTopic, json: JsonPayload): number;
  /** Highest sequence durable (WAL: per fsync policy; direct: acknowledged by ClickHouse). */
  durableSeq(): number;
  lastSeq(): number;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderDeps {
  readonly producerId: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
}

/**
 * Builds the recorder named by `wal.mode` (CE3-01/02). `wal_first` never creates a ClickHouse client:
 * the runtime path cannot wait on ClickHouse because it holds nothing that talks to it. Logs a start-up
 * banner naming the mode and sets `hft_recorder_mode{mode}` (1 for the active mode, 0 for the other).
 */
export async function createRecorder(
  config: { readonly wal: WalConfig; readonly clickhouse: ReturnType<typeof clickhouseSection.parse> },
  deps: RecorderDeps,
): Promise<Recorder> {
  const mode = config.wal.mode;
  const recorder: Recorder =
    mode === 'wal_first'
      ? await WalWriter.open(config.wal, deps)
      : await DirectRecorder.open(config.wal, config.clickhouse, deps);
  const gauge = new Gauge({
    name: 'hft_recorder_mode',
    help: 'Recorder mode in force (1) per mode: wal_first or direct',
    labelNames: ['mode'],
    registers: [deps.registry],
  });
  gauge.set({ mode: 'wal_first' }, mode === 'wal_first' ? 1 : 0);
  gauge.set({ mode: 'direct' }, mode === 'direct' ? 1 : 0);
  deps.logger.info(
    mode === 'wal_first'
      ? {
          recorder_mode: mode,
          wal_dir: config.wal.dir,
          fsync: config.wal.fsync,
          last_seq: recorder.lastSeq(),
        }
      : {
          recorder_mode: mode,
          clickhouse_table: config.wal.direct.table,
          wal_dir: config.wal.dir,
          last_seq: recorder.lastSeq(),
        },
    mode === 'wal_first'
      ? 'recorder mode wal_first: events go to the local WAL; ClickHouse is never called on the runtime path'
      : 'recorder mode direct (compatibility): events are inserted straight into ClickHouse',
  );
  return recorder;
}
