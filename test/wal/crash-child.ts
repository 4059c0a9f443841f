/**
 * Child process for test/wal/crash.test.ts: opens a WalWriter (which recovers whatever the previous,
 * SIGKILLed child left), prints `ready <lastSeq>`, then records at full speed across topics. After each
 * burst it prints `handed <first> <last>`, the numbers record() returned (consecutive: a refused record
 * takes none), and `ack <durableSeq>` whenever the durable sequence advances, in that order, so every
 * acknowledged number was reported as handed out first. It never exits on its own; the test kills it.
 * Every payload carries the sequence the record is expected to get and the run (restart) number, so the
 * test can check that each record sits under its own number and which run handed it out.
 */
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { isGatewayError } from '../../src/errors.js';
import { walSection } from '../../src/wal/config.js';
import { WAL_TOPICS } from '../../src/wal/recorder.js';
import { WalWriter } from '../../src/wal/wal-writer.js';

const [dir, fsync, producerId, runArg] = process.argv.slice(2) as [
  string,
  'batch' | 'interval' | 'never',
  string,
  string,
];
const run = Number(runArg);
const config = walSection.parse({
  dir,
  fsync,
  fsyncIntervalMs: 5,
  segmentMaxBytes: 1024 * 1024,
  batchMaxRecords: 2_000,
  batchMaxBytes: 4 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  // Small blocks: kills also land while the next block is being reserved.
  seqReserveBlock: 4_096,
  disk: { enabled: false },
});
const writer = await WalWriter.open(config, {
  producerId,
  logger: createLogger({ level: 'warn', processId: producerId }),
  registry: new Registry(),
});
process.stdout.write(`ready ${writer.lastSeq()}\n`);

let acked = writer.durableSeq();
let i = 0;
for (;;) {
  let first = 0;
  let last = 0;
  for (let n = 0; n < 500; n++, i++) {
    const topic = WAL_TOPICS[(i * 7) % WAL_TOPICS.length] as (typeof WAL_TOPICS)[number];
    try {
      // Mostly small records, some large ones: multi-MiB writev calls make a kill mid-write (torn tail) likely.
      const pad = 'x'.repeat(i % 97 === 0 ? 16_384 : i % 64);
      const seq = writer.record(topic, { s: writer.lastSeq() + 1, run, i, pad });
      if (first === 0) first = seq;
      last = seq;
    } catch (err) {
      if (!isGatewayError(err, 'GW_ERR_WAL_QUEUE_FULL')) throw err;
      break;
    }
  }
  if (first > 0) process.stdout.write(`handed ${first} ${last}\n`);
  await new Promise((r) => setImmediate(r));
  const durable = writer.durableSeq();
  if (durable > acked) {
    acked = durable;
    process.stdout.write(`ack ${acked}\n`);
  }
}
