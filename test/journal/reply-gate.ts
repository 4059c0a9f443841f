import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP proxy in front of a Redis server that can stop answering a client: once a command containing
 * `trigger` passes through it towards Redis, every reply to every connection is held back (Redis has
 * executed the command; the client just does not hear of it) until `release()`. To the process behind
 * it, this is exactly an event loop starved right after Redis answered.
 */
export class ReplyGate {
  private triggers: string[] = [];
  private held = false;
  private readonly waiting: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number): Promise<ReplyGate> {
    let gate: ReplyGate | undefined;
    const server = createServer((client) => gate?.accept(client, upstreamPort));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    gate = new ReplyGate(server, port);
    return gate;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Holds every reply from the moment a command containing any of `texts` has been passed on to Redis. */
  holdAfter(...texts: string[]): void {
    // Compared with the bytes on the wire, read as latin1.
    this.triggers = texts.map((t) => Buffer.from(t, 'utf8').toString('latin1'));
  }

  get holding(): boolean {
    return this.held;
  }

  release(): void {
    this.triggers = [];
    this.held = false;
    for (const flush of this.waiting.splice(0)) flush();
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, upstreamPort: number): void {
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort });
    this.sockets.add(client);
    this.sockets.add(upstream);
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      const text = tail + chunk.toString('latin1');
      if (this.triggers.some((t) => text.includes(t))) this.held = true;
      tail = text.slice(-64);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.held) this.waiting.push(() => client.write(chunk));
      else client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  }
}
