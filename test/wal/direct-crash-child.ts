/**
 * Child process for test/wal/recorder-mode-switch.test.ts: opens the recorder in `direct` mode, records
 * `<inserted>` events and waits until ClickHouse has them, then records `<buffered>` more that its
 * one-minute flush interval keeps in memory, prints `{"handed":[…],"inserted":<durableSeq>}` and waits to
 * be SIGKILLed: a direct recorder dying with numbers handed out that never reached ClickHouse.
 */
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { walSection } from '../../src/wal/config.js';
import { type Recorder, createRecorder } from '../../src/wal/create-recorder.js';
import { isGatewayError } from '../../src/errors.js';
import type { WalTopic } from '../../src/wal/recorder.js';

const [configJson, producerId, insertedArg, bufferedArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
const config = JSON.parse(configJson) as { wal: Record<string, unknown>; clickhouse: never };
const wal = walSection.parse({
  ...config.wal,
  mode: 'direct',
  direct: { ...(config.wal.direct as object), flushIntervalMs: 60_000, batchMaxRecords: 100_000 },
});
const recorder = await createRecorder(
  { wal, clickhouse: config.clickhouse },
  { producerId, logger: createLogger({ level: 'warn', processId: producerId }), registry: new Registry() },
);
const handed: number[] = [];
for (let i = 0; i < Number(insertedArg); i++)
  handed.push(await recordPatiently(recorder, 'gateway.intent', { child: i }));
await recorder.flush();
for (let i = 0; i < Number(bufferedArg); i++)
  handed.push(await recordPatiently(recorder, 'gateway.ack', { buffered: i }));
process.stdout.write(`${JSON.stringify({ handed, inserted: recorder.durableSeq() })}\n`);
setInterval(() => undefined, 60_000);

/** Same as the test's helper (kept here so the child does not import a test file). */
async function recordPatiently(r: Recorder, topic: WalTopic, payload: unknown): Promise<number> {
  for (;;) {
    try {
      return r.record(topic, payload);
    } catch (err) {
      if (!isGatewayError(err, 'GW_ERR_WAL_QUEUE_FULL')) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
