import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedServer } from './managed-server.js';
import { freePort, spawnTracked, tempDir, waitFor } from './process.js';

const SYSTEM_CONFIG_DIR = '/etc/clickhouse-server';

/**
 * A real clickhouse-server (Debian's 18.16) from a copy of the system config with its paths and ports
 * rewritten into a temp dir. kill()/restart() keep the ports and the data.
 */
export class ClickHouseServer extends ManagedServer {
  private constructor(
    readonly httpPort: number,
    readonly dir: string,
    private readonly configFile: string,
  ) {
    super();
  }

  static async start(): Promise<ClickHouseServer> {
    const dir = tempDir('clickhouse');
    const [httpPort, tcpPort, interserverPort] = [await freePort(), await freePort(), await freePort()];
    for (const sub of ['data', 'log', 'tmp', 'user_files', 'format_schemas'])
      mkdirSync(join(dir, sub), { recursive: true });
    const config = readFileSync(join(SYSTEM_CONFIG_DIR, 'config.xml'), 'utf8')
      .replaceAll('/var/lib/clickhouse/tmp/', `${dir}/tmp/`)
      .replaceAll('/var/lib/clickhouse/user_files/', `${dir}/user_files/`)
      .replaceAll('/var/lib/clickhouse/format_schemas/', `${dir}/format_schemas/`)
      .replaceAll('/var/lib/clickhouse/', `${dir}/data/`)
      .replaceAll('/var/log/clickhouse-server/', `${dir}/log/`)
      .replace(/<http_port>\d+<\/http_port>/, `<http_port>${httpPort}</http_port>`)
      .replace(/<tcp_port>\d+<\/tcp_port>/, `<tcp_port>${tcpPort}</tcp_port>`)
      .replace(
        /<interserver_http_port>\d+<\/interserver_http_port>/,
        `<interserver_http_port>${interserverPort}</interserver_http_port>`,
      )
      .replace(/<listen_host>::1<\/listen_host>/g, '')
      .replace(/<mark_cache_size>\d+<\/mark_cache_size>/, '<mark_cache_size>268435456</mark_cache_size>');
    const configFile = join(dir, 'config.xml');
    writeFileSync(configFile, config);
    writeFileSync(join(dir, 'users.xml'), readFileSync(join(SYSTEM_CONFIG_DIR, 'users.xml')));
    const server = new ClickHouseServer(httpPort, dir, configFile);
    await server.launch();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  protected async launch(): Promise<void> {
    this.proc = spawnTracked('clickhouse-server', [`--config-file=${this.configFile}`], { cwd: this.dir });
    await waitFor(
      `clickhouse-server on ${this.httpPort}`,
      async () => {
        if (this.proc?.child.exitCode !== null)
          throw new Error(`clickhouse-server exited: ${this.proc?.output()}`);
        const res = await fetch(`${this.url}/ping`);
        return res.ok;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** Runs one statement over HTTP and returns the body (for test set-up and assertions). */
  async query(sql: string): Promise<string> {
    const res = await fetch(`${this.url}/`, { method: 'POST', body: sql });
    const body = await res.text();
    if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${body}`);
    return body;
  }
}
