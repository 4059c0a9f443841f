import Fastify, { type FastifyInstance } from 'fastify';
import { faultPatchSchema } from './config.js';
import type { OrderServer } from './order-server.js';
import type { VenueBook } from './venue-book.js';

/**
 * The venue's HTTP side, for tests and chaos checks (never on the order path): the order log and counters
 * as the oracle, fault injection, a fill on demand, and reset.
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
  app.post('/fill', async (req, reply) => {
    const body = (req.body ?? {}) as { clientOrderId?: unknown; qty?: unknown };
    const { clientOrderId, qty } = body;
    if (typeof clientOrderId !== 'string' || !Number.isSafeInteger(qty) || (qty as number) < 1) {
      return reply
        .code(400)
        .send({ error: 'BAD_FILL', expected: '{clientOrderId: string, qty: integer ≥ 1}' });
    }
    const state = book.fillNow(clientOrderId, qty as number);
    if (state === null) return reply.code(404).send({ error: 'ORDER_NOT_OPEN', clientOrderId });
    return { clientOrderId, state };
  });
  app.post('/reset', async () => {
    book.reset();
    return { reset: true, faults: book.currentFaults() };
  });
  return app;
}
