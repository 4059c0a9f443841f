/**
 * Operator replay of sealed segments (runbooks/loader.md):
 *
 *   npx tsx loaders/replay-cli.ts [--force] <manifest path>...
 *
 * The segment files must be back in the WAL dir. Same configuration as the loader (HFT_CONFIG_FILE,
 * HFT__… variables). `--force` re-inserts every record; the default first asks ClickHouse what landed.
 */
import { Queue } from 'bullmq';
import { loadConfig } from '../src/config/load.js';
import { Keyspace } from '../src/keys.js';
import { connectRedis } from '../src/redis/connect.js';
import { Scripts } from '../src/redis/scripts.js';
import type { LoadJobData } from './load-job.js';
import { walDirsOf } from './loader-process.js';
import { insideRoots } from './load-job.js';
import { replaySegment } from './replay.js';
import { segmentFiles } from './segment-files.js';
import { SegmentStateStore } from './segment-state-store.js';

const args = process.argv.slice(2);
const mode = args.includes('--force') ? 'force' : 'check';
const paths = args.filter((a) => !a.startsWith('--'));
const config = loadConfig({ env: process.env });
const keys = new Keyspace(config.redis.keyPrefix);
const redis = await connectRedis({ url: config.redis.stateUrl, name: 'loader-replay-cli' });
const scripts = new Scripts();
scripts.register(redis);
const store = new SegmentStateStore(redis, scripts, keys);
const queue = new Queue<LoadJobData>(config.loader.queueName, {
  connection: { url: config.redis.stateUrl },
  prefix: keys.bullmqPrefix(),
});
let failed = 0;
for (const path of paths) {
  if (!insideRoots(path, walDirsOf(config))) {
    console.error(`${path}: not inside the WAL dirs ${walDirsOf(config).join(', ')}`);
    failed += 1;
    continue;
  }
  const { segmentId, manifestPath } = segmentFiles(path);
  const previous = await replaySegment(
    { store, queue, config: config.loader },
    { segmentId, manifestPath },
    mode,
  );
  if (previous === null) {
    console.error(`${segmentId}: a loader holds a live claim on it; nothing changed`);
    failed += 1;
  } else {
    console.log(`${segmentId}: ${previous} → SEALED (${mode}), job queued`);
  }
}
await queue.close();
redis.disconnect();
process.exit(failed > 0 ? 1 : 0);
