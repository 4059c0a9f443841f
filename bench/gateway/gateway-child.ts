/**
 * The gateway under benchmark, in its own OS process: one Gateway (IntentConsumer + pipeline + TcpBroker
 * to the venue-sim) under a fixed epoch, exactly as test/gateway/gateway-env.ts builds it. Prints
 * `{"ready":true}` once ACTIVE; closes and exits on SIGTERM.
 *   argv: <configJson>
 */
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startGateway } from '../../test/gateway/gateway-env.js';

const config = loadConfig({ overrides: JSON.parse(process.argv[2] ?? '{}') as ConfigInput });
const g = await startGateway(config);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.on('SIGTERM', () => {
  g.close()
    .catch(() => {})
    .finally(() => process.exit(0));
});
