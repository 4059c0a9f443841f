import { Writable } from 'node:stream';
import { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createRegistry } from '../../src/metrics/registry.js';
import { OpsServer } from '../../src/ops/server.js';

function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', processId: 'ops-test' }, sink) };
}

function server(ready: boolean, adminToken = 'secret-token') {
  const registry = createRegistry({ process_id: 'ops-test', component: 'test' });
  new Counter({ name: 'hft_test_things_total', help: 'things', registers: [registry] }).inc(3);
  const { logger } = memoryLog();
  const ops = new OpsServer({
    registry,
    logger,
    adminToken,
    readiness: () => ({ ready, detail: { role: 'ACTIVE' } }),
  });
  ops.registerAdmin((admin) => admin.get('/ping', async () => ({ pong: true })));
  return ops;
}

describe('ops server', () => {
  it('answers liveness always and readiness by the process state', async () => {
    expect((await server(false).app.inject('/health/live')).statusCode).toBe(200);
    expect((await server(true).app.inject('/health/ready')).json()).toEqual({
      ready: true,
      detail: { role: 'ACTIVE' },
    });
    expect((await server(false).app.inject('/health/ready')).statusCode).toBe(503);
  });

  it('serves Prometheus text with the process labels', async () => {
    const res = await server(true).app.inject('/metrics');
    expect(res.body).toContain('hft_test_things_total{process_id="ops-test",component="test"} 3');
  });

  it('guards admin routes with the bearer token', async () => {
    const ops = server(true);
    expect((await ops.app.inject('/admin/ping')).statusCode).toBe(401);
    expect(
      (await ops.app.inject({ url: '/admin/ping', headers: { authorization: 'Bearer nope' } })).json(),
    ).toMatchObject({
      code: 'GW_ERR_UNAUTHORIZED',
    });
    const ok = await ops.app.inject({
      url: '/admin/ping',
      headers: { authorization: 'Bearer secret-token' },
    });
    expect(ok.json()).toEqual({ pong: true });
  });

  it('disables admin routes entirely when no token is configured', async () => {
    const res = await server(true, '').app.inject({
      url: '/admin/ping',
      headers: { authorization: 'Bearer ' },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('logger', () => {
  it('redacts secrets wherever they sit in a record', () => {
    const { lines, logger } = memoryLog();
    logger.info({ adminToken: 'abc', clickhouse: { password: 'pw' }, trace_id: 't-9' }, 'boot');
    expect(lines[0]).toMatchObject({
      adminToken: '[redacted]',
      clickhouse: { password: '[redacted]' },
      trace_id: 't-9',
    });
  });
});
