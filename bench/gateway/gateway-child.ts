/**
 * The gateway under benchmark, in its own OS process: one Gateway (IntentConsumer + pipeline + TcpBroker
 * to the venue-sim) under a fixed epoch, exactly as test/gateway/gateway-env.ts builds it. Prints
 * `{"ready":true}` once ACTIVE; closes and exits on SIGTERM.
 *   argv: <configJson> [traceFile: stage marks (src/channel/stage-trace.ts) appended there on SIGTERM]
 */
import { dumpStageTrace, enableStageTrace } from '../../src/channel/stage-trace.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startGateway } from '../../test/gateway/gateway-env.js';

const traceFile = process.argv[3];
if (traceFile) enableStageTrace();
const config = loadConfig({ overrides: JSON.parse(process.argv[2] ?? '{}') as ConfigInput });
const g = await startGateway(config);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.on('SIGTERM', () => {
  if (traceFile) dumpStageTrace(traceFile);
  g.close()
    .catch(() => {})
    .finally(() => process.exit(0));
});
