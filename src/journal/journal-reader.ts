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

  /** Client order ids of open NEW orders (DISPATCHED, not closed), oldest first, page by page. */
  async open(offset: number, limit: number): Promise<string[]> {
    return this.redis.zrange(this.keys.journalOpen(), offset, offset + limit - 1);
  }

  async admittedCount(): Promise<number> {
    return this.redis.zcard(this.keys.journalAdmitted());
  }
}
