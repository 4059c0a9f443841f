import { Redis } from 'ioredis';
import { ManagedServer } from './managed-server.js';
import { freePort, spawnTracked, tempDir, waitFor } from './process.js';

export interface RedisServerOptions {
  /** AOF with fsync on every write: the state Redis setting, so data survives kill -9 and restart. */
  aof?: boolean;
  extraArgs?: string[];
}

/** A real redis-server on a free port in its own temp dir. kill()/restart() keep the port and the data. */
export class RedisServer extends ManagedServer {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: RedisServerOptions,
  ) {
    super();
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), tempDir('redis'), opts);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--appendonly',
      this.opts.aof ? 'yes' : 'no',
      '--appendfsync',
      'always',
      ...(this.opts.extraArgs ?? []),
    ];
    this.proc = spawnTracked('redis-server', args);
    const probe = new Redis(this.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await waitFor(`redis-server on ${this.port}`, async () => {
        if (this.proc?.child.exitCode !== null)
          throw new Error(`redis-server exited: ${this.proc?.output()}`);
        if (probe.status !== 'ready') await probe.connect().catch(() => probe.disconnect());
        return (await probe.ping()) === 'PONG';
      });
    } finally {
      probe.disconnect();
    }
  }
}
