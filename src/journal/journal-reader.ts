import type { Redis } from 'ioredis';
import type { Keyspace } from '../keys.js';
import { type JournalEntry, parseJournalEntry } from './journal-entry.js';

/** Read side of the dispatch journal. */
export class JournalReader {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
  ) {}

  async read(clientOrderId: string): Promise<JournalEntry | null> {
    return parseJournalEntry(await this.redis.hgetall(this.keys.journal(clientOrderId)));
  }

  /**
   * Reads many entries in one pipelined round trip, in the order of `clientOrderIds`. Each element is the
   * entry, null for a missing one, or the Error its HGETALL failed with (the others are still usable).
   */
  async readMany(clientOrderIds: readonly string[]): Promise<(JournalEntry | null | Error)[]> {
    if (clientOrderIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const coid of clientOrderIds) pipeline.hgetall(this.keys.journal(coid));
    const replies = (await pipeline.exec()) ?? [];
    return clientOrderIds.map((_, i) => {
      const [err, raw] = replies[i] ?? [new Error('no reply in the pipeline'), null];
      if (err) return err;
      try {
        return parseJournalEntry(raw as Record<string, string>);
      } catch (parseErr) {
        return parseErr as Error;
      }
    });
  }

  /**
   * Client order ids of ADMITTED entries whose latest dispatch attempt began at or before
   * `attemptAtOrBeforeMs` (state Redis clock; +Infinity for all), oldest first, at most `limit`.
   */
  async admitted(attemptAtOrBeforeMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(
      this.keys.journalAdmitted(),
      '-inf',
      Number.isFinite(attemptAtOrBeforeMs) ? attemptAtOrBeforeMs : '+inf',
      'LIMIT',
      0,
      limit,
    );
  }

  /** The state Redis server's clock (ms): the clock dispatch attempts are stamped with. */
  async serverTimeMs(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
  }

  /** The highest score (record time, ms) in the open-orders index; null when it is empty. */
  async openMaxScore(): Promise<number | null> {
    const [, score] = await this.redis.zrange(this.keys.journalOpen(), -1, -1, 'WITHSCORES');
    return score === undefined ? null : Number(score);
  }

  /**
   * Open NEW orders (DISPATCHED, not closed) with `fromScore` ≤ score ≤ `toScore`, by score, at most
   * `limit`. Paging by score rather than by rank: orders closed meanwhile (execution reports applied while
   * a sync pages) leave the index without shifting the orders not yet read.
   */
  async openByScore(
    fromScore: number,
    toScore: number,
    limit: number,
  ): Promise<{ clientOrderId: string; score: number }[]> {
    const flat = await this.redis.zrangebyscore(
      this.keys.journalOpen(),
      Number.isFinite(fromScore) ? fromScore : '-inf',
      toScore,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const page: { clientOrderId: string; score: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      page.push({ clientOrderId: flat[i] as string, score: Number(flat[i + 1]) });
    }
    return page;
  }

  async admittedCount(): Promise<number> {
    return this.redis.zcard(this.keys.journalAdmitted());
  }
}
