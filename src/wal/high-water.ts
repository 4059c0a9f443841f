import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './fs-durable.js';

/**
 * `<dir>/<producerId>/high-water.json`: the highest sequence this producer ever sealed or quarantined.
 * Manifests alone are not enough to resume numbering: loaders archive sealed segments, and a quarantined
 * segment's numbers must not be reused either. Written atomically after each seal/quarantine.
 */
export const HIGH_WATER_FILE = 'high-water.json';

export async function readHighWater(producerDir: string): Promise<number> {
  try {
    const parsed = JSON.parse(await readFile(join(producerDir, HIGH_WATER_FILE), 'utf8')) as {
      lastSeq?: unknown;
    };
    return Number.isSafeInteger(parsed.lastSeq) ? (parsed.lastSeq as number) : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

export async function writeHighWater(
  producerDir: string,
  producerId: string,
  lastSeq: number,
): Promise<void> {
  await writeFileAtomic(join(producerDir, HIGH_WATER_FILE), `${JSON.stringify({ producerId, lastSeq })}\n`);
  await fsyncDir(producerDir);
}
