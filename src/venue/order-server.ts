import { type Server, type Socket, createServer } from 'node:net';
import type { ExecutionReport, OrderStatus, PlaceResult } from '../broker/adapter.js';
import { LineSplitter } from './ndjson.js';
import { VENUE_PROTOCOL_VERSION, type VenueMessage, type VenueRequest } from './protocol.js';
import { type VenueBook, isClientOrderId } from './venue-book.js';

/** Bytes a slow client may leave unread before the venue drops it (bounded per-connection buffer). */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;
/** Requests held by the latency fault at once; beyond it they are answered VENUE_ERROR (not processed). */
const MAX_DELAYED_REQUESTS = 100_000;

/**
 * The order port: NDJSON requests answered in arrival order per connection, execution reports pushed to
 * every open connection. Writes are corked and flushed once per tick, so a pipelined burst costs one
 * syscall rather than one per answer. Outage (a fault) closes every connection and closes new ones on
 * accept, which clients see as a refused/broken connection.
 */
export class OrderServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Requests waiting out the latency fault. */
  private delayed = 0;

  constructor(private readonly book: VenueBook) {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

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

  /** Pushes an execution report to every open order connection. */
  broadcast(report: ExecutionReport): void {
    const line = `${JSON.stringify({ t: 'exec', report } satisfies VenueMessage)}\n`;
    for (const socket of this.sockets) this.write(socket, line);
  }

  /** Called when the outage fault turns on: drop every order connection now. */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (this.book.currentFaults().outage) {
      this.book.countConnection(false);
      socket.destroy();
      return;
    }
    this.book.countConnection(true);
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.sockets.delete(socket)) this.book.countDisconnect();
    });
    const splitter = new LineSplitter(
      (line) => this.onLine(socket, line),
      () => socket.destroy(),
    );
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    this.write(
      socket,
      `${JSON.stringify({ t: 'hello', protocol: VENUE_PROTOCOL_VERSION } satisfies VenueMessage)}\n`,
    );
  }

  private onLine(socket: Socket, line: string): void {
    let request: VenueRequest;
    try {
      request = JSON.parse(line) as VenueRequest;
    } catch {
      this.book.countBadRequest();
      return;
    }
    if (typeof request !== 'object' || request === null || !Number.isSafeInteger(request.id)) {
      this.book.countBadRequest();
      return;
    }
    const latency = this.book.currentFaults().latencyMs;
    if (latency > 0 && this.delayed >= MAX_DELAYED_REQUESTS) {
      // Bounded like every queue: past the cap a delayed request is refused unprocessed.
      this.reply(socket, {
        t: 'res',
        id: request.id,
        ok: false,
        error: 'VENUE_ERROR',
        message: 'venue overloaded',
      });
    } else if (latency > 0) {
      this.delayed += 1;
      setTimeout(() => {
        this.delayed -= 1;
        this.handle(socket, request);
      }, latency);
    } else this.handle(socket, request);
  }

  private handle(socket: Socket, request: VenueRequest): void {
    if (socket.destroyed) return;
    const { id } = request;
    if (this.book.drawError()) {
      this.reply(socket, { t: 'res', id, ok: false, error: 'VENUE_ERROR', message: 'injected venue error' });
      return;
    }
    const problem = requestProblem(request);
    if (problem !== null) {
      this.book.countBadRequest();
      this.reply(socket, { t: 'res', id, ok: false, error: 'BAD_REQUEST', message: problem });
      return;
    }
    let result: PlaceResult | OrderStatus | null;
    if (request.t === 'place') result = this.book.place(request.order);
    else if (request.t === 'cancel') result = this.book.cancel(request.clientOrderId, request.epoch);
    else result = this.book.query(request.clientOrderId);
    if (!this.book.drawDropReply()) this.reply(socket, { t: 'res', id, ok: true, result });
    // Fills go out after the ack so a client always sees the ack before the fills on this connection.
    if (request.t === 'place' && result?.state === 'ACKED')
      this.book.fillAfterAck(request.order.clientOrderId);
  }

  private reply(socket: Socket, message: VenueMessage): void {
    this.write(socket, `${JSON.stringify(message)}\n`);
  }

  private write(socket: Socket, line: string): void {
    if (socket.destroyed) return;
    if (socket.writableLength > MAX_UNREAD_BYTES) {
      socket.destroy();
      return;
    }
    if (!socket.writableCorked) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    socket.write(line);
  }
}

/** Why a decoded request cannot be processed, or null. Checked before anything changes. */
function requestProblem(request: VenueRequest): string | null {
  switch (request.t) {
    case 'place':
      return typeof request.order === 'object' &&
        request.order !== null &&
        isClientOrderId(request.order.clientOrderId)
        ? null
        : 'place needs an order with a clientOrderId';
    case 'cancel':
      return isClientOrderId(request.clientOrderId) && Number.isSafeInteger(request.epoch)
        ? null
        : 'cancel needs clientOrderId and an integer epoch';
    case 'query':
      return isClientOrderId(request.clientOrderId) ? null : 'query needs clientOrderId';
    default:
      return `unknown request type ${String((request as { t: unknown }).t)}`;
  }
}
