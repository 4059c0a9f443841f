/**
 * venue-sim process: `tsx src/venue/main.ts [--order-port N] [--http-port N] [--seed N] [--fill-mode M]
 * [--latency-ms N] [--max-orders N]`. Prints one JSON line with its ports on stdout when listening, then
 * runs until SIGTERM/SIGINT. See docs/venue-sim.md.
 */
import { nowNs } from '../clock.js';
import { parseVenueArgs } from './config.js';
import { buildOracleServer } from './oracle-server.js';
import { OrderServer } from './order-server.js';
import { DEFAULT_FAULTS } from './protocol.js';
import { VenueBook } from './venue-book.js';

async function main(): Promise<void> {
  const config = parseVenueArgs(process.argv.slice(2));
  let orders: OrderServer | undefined;
  const book = new VenueBook({
    seed: config.seed,
    maxOrders: config.maxOrders,
    emit: (report) => orders?.broadcast(report),
    nowNs: () => nowNs(),
    initialFaults: { ...DEFAULT_FAULTS, fillMode: config.fillMode, latencyMs: config.latencyMs },
  });
  orders = new OrderServer(book);
  const orderPort = await orders.listen(config.host, config.orderPort);
  const oracle = buildOracleServer(book, orders);
  await oracle.listen({ host: config.host, port: config.httpPort });
  const address = oracle.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  process.stdout.write(
    `${JSON.stringify({ event: 'venue-sim.listening', host: config.host, orderPort, httpPort, pid: process.pid })}\n`,
  );
  const shutdown = async () => {
    await Promise.allSettled([orders?.close(), oracle.close()]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: unknown) => {
  process.stderr.write(`venue-sim failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
