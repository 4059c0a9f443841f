import type { Spawned } from './process.js';

/**
 * Lifecycle shared by the real server processes tests run (redis-server, clickhouse-server, venue-sim,
 * feed-sim): subclasses say how to launch and when the process answers; kill()/restart()/stop() keep the
 * ports (and any data directory), so a test can crash a process and bring the same one back.
 */
export abstract class ManagedServer {
  protected proc: Spawned | undefined;

  /** Spawns the server and resolves once it answers. */
  protected abstract launch(): Promise<void>;

  /** The last spawned process's pid (benches pin it to a CPU or read its /proc CPU time). */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  /** False once the process has exited or died of a signal (SIGKILL leaves exitCode null). */
  get running(): boolean {
    return this.proc?.child.exitCode === null && this.proc.child.signalCode === null;
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** SIGTERM: a clean shutdown. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.proc || !this.running) return;
    this.proc.child.kill(signal);
    await this.proc.exited();
  }
}
