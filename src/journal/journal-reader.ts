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

  /** Client order ids ADMITTED at or before `admittedAtOrBeforeMs`, oldest first, at most `limit`. */
  async admitted(admittedAtOrBeforeMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(
      this.keys.journalAdmitted(),
      '-inf',
      admittedAtOrBeforeMs,
      'LIMIT',
      0,
      limit,
    );
  }

  /** Client order ids of open NEW orders (DISPATCHED, not closed), oldest first, page by page. */
  async open(offset: number, limit: number): Promise<string[]> {
    return this.redis.zrange(this.keys.journalOpen(), offset, offset + limit - 1);
  }

  async admittedCount(): Promise<number> {
    return this.redis.zcard(this.keys.journalAdmitted());
  }
}
