/**
 * A gateway-side consumer in its own process, for lost-ack tests. Its handler counts every call in Redis
 * and, for the key named by argv[4], kills its own process with SIGKILL after the side effect and before
 * the entry is acknowledged: the crash window the channel must survive.
 */
import { connectRedis } from '../../src/redis/connect.js';
import { acceptedDecision } from '../fixtures/intents.js';
import { startConsumer, testChannel } from './consumer-harness.js';

const [url, name, crashKey] = process.argv.slice(2) as [string, string, string];
const counter = await connectRedis({ url, name: `${name}:counter` });

await startConsumer(url, {
  name,
  channel: testChannel(),
  handler: async ({ envelope }) => {
    await counter.incr(`{hft}:test:handled:${envelope.idempotency_key}`);
    if (envelope.idempotency_key === crashKey) process.kill(process.pid, 'SIGKILL');
    return acceptedDecision(envelope, name);
  },
});
process.stdout.write('ready\n');
