import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { CODES, GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';

/** What `/health/ready` reports. `ready` is false for anything that must not receive traffic. */
export interface Readiness {
  ready: boolean;
  detail: Record<string, unknown>;
}

export interface OpsServerOptions {
  registry: Registry;
  logger: Logger;
  /** Called on every `/health/ready`; must be cheap and must not throw. */
  readiness: () => Readiness;
  /** Bearer token for `/admin/*` routes; empty string disables them (404). */
  adminToken: string;
}

/**
 * The ops server every process runs: `/health/live` (the process event loop answers), `/health/ready`
 * (the process may take traffic in its role), `/metrics` (Prometheus text). Admin routes are registered
 * by the process under `/admin` with {@link OpsServer.registerAdmin}; they require the bearer token.
 */
export class OpsServer {
  readonly app: FastifyInstance;

  constructor(private readonly opts: OpsServerOptions) {
    this.app = Fastify({ logger: false });
    this.app.get('/health/live', async () => ({ live: true }));
    this.app.get('/health/ready', async (_req, reply) => {
      const readiness = this.opts.readiness();
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    });
    this.app.get('/metrics', async (_req, reply) => {
      const text = await this.opts.registry.metrics();
      return reply.type(this.opts.registry.contentType).send(text);
    });
    this.app.setErrorHandler((err, _req, reply) => {
      if (isGatewayError(err)) return reply.code(err.http).send(err.toJSON());
      this.opts.logger.error({ err }, 'ops request failed');
      const spec = CODES.GW_ERR_INTERNAL;
      return reply.code(spec.http).send({ code: 'GW_ERR_INTERNAL', message: spec.message });
    });
  }

  /** Registers admin routes under `/admin`, all behind the bearer token. */
  registerAdmin(register: (admin: FastifyInstance) => void): void {
    const token = this.opts.adminToken;
    this.app.register(
      async (admin) => {
        admin.addHook('onRequest', async (req) => {
          if (!token)
            throw new GatewayError('GW_ERR_UNAUTHORIZED', 'admin API disabled (no token configured)');
          if (req.headers.authorization !== `Bearer ${token}`) throw new GatewayError('GW_ERR_UNAUTHORIZED');
        });
        register(admin);
      },
      { prefix: '/admin' },
    );
  }

  async listen(host: string, port: number): Promise<string> {
    return this.app.listen({ host, port });
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
