import { type Server, type Socket, createServer } from 'node:net';
import type { QuoteTopic } from './config.js';
import type { FeedSimulator } from './feed-sim.js';

const NEWLINE = 10;
/** Longest subscribe line accepted from a client before it is disconnected. */
const MAX_SUBSCRIBE_BYTES = 256 * 1024;

export interface FeedServerOptions {
  /** A client whose unsent output passes this is disconnected (slow consumer); it may reconnect. */
  readonly maxClientBufferBytes?: number;
  /** Called with one line of text per notable event (connect, subscribe, slow-consumer drop). */
  readonly log?: (event: Record<string, unknown>) => void;
}

interface Client {
  readonly socket: Socket;
  /** Server symbol index → this client's symbol id (its subscription index), -1 when not subscribed. */
  ids: Int32Array | null;
  wantTick: boolean;
  wantBidAsk: boolean;
  out: string[];
  handshake: Buffer;
}

export interface FeedServerCounters {
  clients: number;
  connections: number;
  slowConsumerDrops: number;
  quotesSent: number;
}

/**
 * Serves one FeedSimulator's stream over TCP to any number of clients (every gateway replica gets the
 * same market): the quote-feed transport a real process uses (TcpQuoteFeed is the client). Loopback,
 * no authentication: a test/demo/drill tool like the venue-sim.
 *
 * Protocol: the client sends `subscribe\t<sym,sym,…>\t<tick,bidask>\n` once; the server then writes
 * `<topic>\t<symbolId>\t<envelope JSON>\n` for every simulated quote of a subscribed symbol and topic,
 * with `symbolId` the index in that client's list. Symbols the server does not simulate never arrive.
 *
 * Bounded: output to a client is batched per event-loop turn (one socket write per turn) and a client
 * whose unsent bytes pass `maxClientBufferBytes` is disconnected, as an exchange drops a slow
 * consumer; the simulator never waits for a client.
 */
export class FeedServer {
  readonly counters: FeedServerCounters = { clients: 0, connections: 0, slowConsumerDrops: 0, quotesSent: 0 };
  private readonly server: Server;
  private readonly clients = new Set<Client>();
  private readonly index: Map<string, number>;
  private readonly maxBuffer: number;
  private flushScheduled = false;

  constructor(
    sim: FeedSimulator,
    symbols: readonly string[],
    private readonly options: FeedServerOptions = {},
  ) {
    this.index = new Map(symbols.map((s, i) => [s, i]));
    this.maxBuffer = options.maxClientBufferBytes ?? 8 * 1024 * 1024;
    sim.onTick((payload, symbolId) => this.fanOut('tick', payload, symbolId));
    sim.onBidAsk((payload, symbolId) => this.fanOut('bidask', payload, symbolId));
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens; resolves with the bound port (0 picks a free one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const client: Client = {
      socket,
      ids: null,
      wantTick: false,
      wantBidAsk: false,
      out: [],
      handshake: Buffer.alloc(0),
    };
    this.clients.add(client);
    this.counters.clients = this.clients.size;
    this.counters.connections++;
    socket.on('data', (chunk: Buffer) => this.onClientData(client, chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      this.clients.delete(client);
      this.counters.clients = this.clients.size;
    });
  }

  /** Reads the one subscribe line; anything after it is ignored. */
  private onClientData(client: Client, chunk: Buffer): void {
    if (client.ids !== null) return;
    client.handshake = Buffer.concat([client.handshake, chunk]);
    const nl = client.handshake.indexOf(NEWLINE);
    if (nl < 0) {
      if (client.handshake.length > MAX_SUBSCRIBE_BYTES) client.socket.destroy();
      return;
    }
    const [verb, symbolList = '', topicList = ''] = client.handshake.toString('utf8', 0, nl).split('\t');
    client.handshake = Buffer.alloc(0);
    if (verb !== 'subscribe') {
      client.socket.destroy();
      return;
    }
    const ids = new Int32Array(this.index.size).fill(-1);
    const symbols = symbolList === '' ? [] : symbolList.split(',');
    const unknown: string[] = [];
    symbols.forEach((symbol, clientId) => {
      const serverId = this.index.get(symbol);
      if (serverId === undefined) unknown.push(symbol);
      else ids[serverId] = clientId;
    });
    const topics = topicList.split(',') as QuoteTopic[];
    client.wantTick = topics.includes('tick');
    client.wantBidAsk = topics.includes('bidask');
    client.ids = ids;
    this.options.log?.({
      event: 'feed-sim.subscribed',
      symbols: symbols.length,
      not_simulated: unknown,
      topics,
    });
  }

  private fanOut(topic: QuoteTopic, payload: string | Buffer, serverId: number): void {
    for (const c of this.clients) {
      if (c.ids === null || (topic === 'tick' ? !c.wantTick : !c.wantBidAsk)) continue;
      const id = c.ids[serverId] ?? -1;
      if (id < 0) continue;
      const line = `${topic}\t${id}\t${payload}\n`;
      c.out.push(line);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const c of this.clients) {
      if (c.out.length === 0) continue;
      const n = c.out.length;
      const text = c.out.join('');
      c.out = [];
      if (c.socket.writableLength + text.length > this.maxBuffer) {
        this.counters.slowConsumerDrops++;
        this.options.log?.({ event: 'feed-sim.slow_consumer', buffered: c.socket.writableLength });
        c.socket.destroy();
        continue;
      }
      c.socket.write(text);
      this.counters.quotesSent += n;
    }
  };
}
