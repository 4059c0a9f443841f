import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './fs-durable.js';

/**
 * `<dir>/<producerId>/high-water.json`: the producer's sequence high-water mark. No sequence at or below
 * it will ever be handed out again by this producer, across restarts and crashes:
 *
 * - the writer reserves numbers ahead in blocks (`wal.seqReserveBlock`) and hands out a number only once
 *   a mark at or above it is durable (written atomically, fsynced, directory fsynced), so a restart after
 *   a crash resumes above every number the crashed process could have handed out;
 * - recovery raises it over everything it sealed or quarantined, so loaders archiving segments and a
 *   quarantined file's numbers cannot lower it;
 * - a clean close lowers it to the last number handed out (every one of them then sealed), so a clean
 *   restart continues without a gap.
 *
 * Files written before reservation existed hold `lastSeq` (the highest sealed sequence): read as the mark.
 */
export const HIGH_WATER_FILE = 'high-water.json';

export async function readHighWater(producerDir: string): Promise<number> {
  try {
    const parsed = JSON.parse(await readFile(join(producerDir, HIGH_WATER_FILE), 'utf8')) as {
      reservedThrough?: unknown;
      lastSeq?: unknown;
    };
    const mark = parsed.reservedThrough ?? parsed.lastSeq;
    return Number.isSafeInteger(mark) ? (mark as number) : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** Replaces the mark durably (atomic write, fsynced file and directory). Not safe for concurrent calls. */
export async function writeHighWater(
  producerDir: string,
  producerId: string,
  reservedThrough: number,
): Promise<void> {
  await writeFileAtomic(
    join(producerDir, HIGH_WATER_FILE),
    `${JSON.stringify({ producerId, reservedThrough })}\n`,
  );
  await fsyncDir(producerDir);
}
