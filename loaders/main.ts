/**
 * Loader process entrypoint: `node dist/loaders/main.js` (or `tsx loaders/main.ts`). Configuration per
 * src/config/load.ts (HFT_CONFIG_FILE and HFT__… variables). Exits non-zero with the typed error when it
 * cannot start (for example GW_ERR_REDIS_EVICTION_POLICY); SIGTERM/SIGINT stop it gracefully.
 */
import { loadConfig } from '../src/config/load.js';
import { GatewayError } from '../src/errors.js';
import { LoaderProcess } from './loader-process.js';

async function main(): Promise<void> {
  const config = loadConfig({ env: process.env });
  const loader = await LoaderProcess.start(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    loader.logger.info({ signal }, 'loader stopping');
    loader.stop().then(
      () => process.exit(0),
      (err) => {
        loader.logger.error({ err }, 'loader stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  const code = err instanceof GatewayError ? err.code : 'GW_ERR_INTERNAL';
  process.stderr.write(`loader: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
