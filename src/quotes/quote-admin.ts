import type { OpsServer } from '../ops/server.js';
import type { QuoteIngress } from './quote-ingress.js';

/**
 * Operator routes of the quote ingress, behind the ops server's admin bearer token. The process that
 * runs a QuoteIngress registers them once:
 *
 * - `GET /admin/quotes/status`: halted, policy, queue depth/capacity, drops by topic.
 * - `GET /admin/quotes/references`: per subscribed symbol, the reference price (scaled) and its age in
 *   ms, or null: what the price collar is centred on now.
 * - `POST /admin/quotes/resume` `{"reason": "…"}`: lifts a `halt`-policy latch (logged with the reason);
 *   `resumed: false` when it was not halted. See runbooks/quote-schema.md §3.
 */
export function registerQuoteAdmin(ops: OpsServer, ingress: QuoteIngress): void {
  ops.registerAdmin((admin) => {
    admin.get('/quotes/status', async () => ingress.status());
    admin.get('/quotes/references', async () => ingress.references());
    admin.post('/quotes/resume', async (req) => {
      const body = (req.body ?? {}) as { reason?: unknown };
      const reason = typeof body.reason === 'string' ? body.reason.slice(0, 200) : 'operator';
      const resumed = ingress.resume(reason);
      return { resumed, ...ingress.status() };
    });
  });
}
