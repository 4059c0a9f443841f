/**
 * gateway process: `tsx src/gateway/main.ts`. Configured by HFT_CONFIG_FILE and HFT__SECTION__KEY env vars
 * (src/config/load.ts); the venue is `broker.host:port`. Runs until SIGTERM/SIGINT, then stops consuming,
 * finishes in-flight intents and exits 0.
 */
import { loadConfig } from '../config/load.js';
import { createGatewayProcess } from './gateway-process.js';

async function main(): Promise<void> {
  const config = loadConfig({ env: process.env });
  const proc = await createGatewayProcess(config);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await proc.stop();
      process.exit(0);
    } catch (err) {
      process.stderr.write(`gateway shutdown failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  await proc.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
