import Fastify, { type FastifyInstance } from 'fastify';
import { faultPatchSchema } from './config.js';
import type { OrderServer } from './order-server.js';
import type { VenueBook } from './venue-book.js';

/**
 * The venue's HTTP side, for tests and chaos checks (never on the order path): the order log and counters
 * as the oracle, fault injection, and reset.
 */
export function buildOracleServer(book: VenueBook, orders: OrderServer): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.get('/orders', async () => ({ orders: book.orderLog() }));
  app.get('/counters', async () => book.counts);
  app.get('/faults', async () => book.currentFaults());
  app.post('/faults', async (req, reply) => {
    const parsed = faultPatchSchema.safeParse(req.body ?? {});
    if (!parsed.success) return reply.code(400).send({ error: 'BAD_FAULTS', issues: parsed.error.issues });
    const { seed, ...patch } = parsed.data;
    const wasOut = book.currentFaults().outage;
    book.setFaults({ ...book.currentFaults(), ...patch }, seed);
    if (!wasOut && book.currentFaults().outage) orders.dropAll();
    return book.currentFaults();
  });
  app.post('/reset', async () => {
    book.reset();
    return { reset: true, faults: book.currentFaults() };
  });
  return app;
}
