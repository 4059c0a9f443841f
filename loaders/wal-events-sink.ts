import type { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SegmentManifest } from '../src/wal/manifest.js';
import type { ClickHouseFeatures } from './clickhouse-features.js';
import { queryRows } from './clickhouse-features.js';
import { asClickHouseError, sqlString } from './clickhouse-connect.js';

/** The table migration 0001 creates; one for every topic (see the migration for why). */
export const WAL_EVENTS_TABLE = 'wal_events';

/** What of one segment is already in ClickHouse: distinct business keys and the highest seq. */
export interface Landed {
  readonly distinct: number;
  readonly maxSeq: number;
}

/** One batch on its way: its bytes arrive on `body` as they are read and verified. */
export interface BatchInsert {
  readonly index: number;
  readonly body: Readable;
  /** Same segment bytes, resume point, batch bounds and index → same token (see batchDedupToken). */
  readonly dedupToken: string;
}

/** Where a loader writes batches and asks what landed: narrow, so a test or bench can swap it. */
export interface EventSink {
  /** Resolves once ClickHouse committed the whole body as one INSERT; rejects otherwise. */
  insert(segmentId: string, batch: BatchInsert, signal: AbortSignal): Promise<void>;
  landed(manifest: SegmentManifest): Promise<Landed>;
}

/**
 * Inserts a batch's bytes as they are in the segment (`INSERT INTO wal_events FORMAT JSONEachRow`, the
 * body streamed from the file's own buffers as they are verified, never re-encoded). Each batch stays
 * below the server's max_insert_block_size, so on 18.16 it becomes one part. A body that errors (a
 * verification failure) cuts the connection, and 18.16 may then commit the whole records it received: the
 * loader only ever sends bytes that passed the segment's sha256, so those are real records (see
 * docs/replay.md, "Verification").
 */
export class ClickHouseEventSink implements EventSink {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly features: ClickHouseFeatures,
  ) {}

  async insert(segmentId: string, batch: BatchInsert, signal: AbortSignal): Promise<void> {
    try {
      // exec, not insert: insert() insists on object-mode streams for JSON formats and would re-encode.
      const result = await this.client.exec({
        query: `INSERT INTO ${WAL_EVENTS_TABLE} FORMAT JSONEachRow`,
        values: batch.body,
        abort_signal: signal,
        ...(this.features.insertDeduplicationToken
          ? {
              clickhouse_settings: { insert_deduplication_token: batch.dedupToken } as Record<string, string>,
            }
          : {}),
      });
      result.stream.resume();
      await new Promise<void>((resolve, reject) => {
        result.stream.once('end', resolve).once('close', resolve).once('error', reject);
      });
    } catch (err) {
      throw asClickHouseError(err, `insert ${segmentId} batch ${batch.index}`);
    }
  }

  /**
   * Distinct seqs of this segment's producer and topic within its seq range: one primary-key range of
   * (topic, producer_id, seq), and only this segment's records can be in it (a producer's segments of a
   * topic have disjoint seq ranges).
   */
  async landed(manifest: SegmentManifest): Promise<Landed> {
    const query = `SELECT uniqExact(seq) AS distinct, max(seq) AS max_seq FROM ${WAL_EVENTS_TABLE}
      WHERE topic = ${sqlString(manifest.topic)} AND producer_id = ${sqlString(manifest.producerId)}
        AND seq >= ${safeInt(manifest.firstSeq)} AND seq <= ${safeInt(manifest.lastSeq)}`;
    try {
      const [row] = await queryRows<{ distinct: string | number; max_seq: string | number }>(
        this.client,
        query,
      );
      const distinct = Number(row?.distinct ?? 0);
      return { distinct, maxSeq: distinct > 0 ? Number(row?.max_seq) : -1 };
    } catch (err) {
      throw asClickHouseError(err, `landed check ${manifest.segmentId}`);
    }
  }
}

function safeInt(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a seq: ${n}`);
  return n;
}
