import { type Socket, connect } from 'node:net';
import { backoffMs } from '../channel/backoff.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { LineSplitter } from '../venue/ndjson.js';
import type { VenueMessage, VenueRequest } from '../venue/protocol.js';
import type { BrokerAdapter, BrokerOrder, ExecutionReport, OrderStatus, PlaceResult } from './adapter.js';
import type { BrokerConfig } from './config.js';

export type TcpBrokerOptions = Omit<BrokerConfig, 'kind'>;

/** Unsent bytes the adapter lets pile up in the socket before it refuses new requests (not sent). */
const MAX_UNSENT_BYTES = 16 * 1024 * 1024;

type RequestBody =
  | { t: 'place'; order: BrokerOrder }
  | { t: 'cancel'; clientOrderId: string; epoch: number }
  | { t: 'query'; clientOrderId: string };

interface Pending {
  readonly op: RequestBody['t'];
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: GatewayError) => void;
}

/**
 * BrokerAdapter over the venue-sim TCP protocol (NDJSON, pipelined, request ids). One connection,
 * reconnected with capped, jittered backoff. Outcome mapping (see adapter.ts):
 *
 * - not connected, in-flight window full, socket backlog full, or the venue answered VENUE_ERROR (it did not
 *   process the request): GW_ERR_BROKER_UNAVAILABLE — the request surely had no effect;
 * - written but unanswered when the timeout fires or the connection drops: GW_ERR_BROKER_TIMEOUT — the
 *   venue may have acted on it; reconcile with queryByClientOrderId.
 *
 * Timeouts are swept by one timer over the pending map (insertion order is deadline order, since every
 * request gets the same timeout), not one timer per request.
 */
export class TcpBroker implements BrokerAdapter {
  private socket: Socket | undefined;
  private ready = false;
  private closed = false;
  private attempt = 0;
  private nextId = 1;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly reportListeners = new Set<(report: ExecutionReport) => void>();
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private readonly sweeper: NodeJS.Timeout;
  private lateAnswers = 0;
  private onHello: () => void = () => {};
  /**
   * Request lines written this tick, sent to `outSocket` as one write at the end of the tick: one socket
   * write (and one syscall) for all the orders of a batch instead of one buffered chunk each.
   */
  private outBuffer = '';
  private outSocket: Socket | undefined;

  constructor(
    private readonly opts: TcpBrokerOptions,
    private readonly logger?: Logger,
  ) {
    const sweepMs = Math.max(5, Math.min(50, Math.floor(opts.requestTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweepTimeouts(), sweepMs);
    this.sweeper.unref();
    this.dial();
  }

  /** Creates the adapter and waits for its first connection (GW_ERR_BROKER_UNAVAILABLE if none in time). */
  static async connect(opts: TcpBrokerOptions, logger?: Logger): Promise<TcpBroker> {
    const broker = new TcpBroker(opts, logger);
    try {
      await broker.waitConnected(opts.connectTimeoutMs);
    } catch (err) {
      await broker.close();
      throw err;
    }
    return broker;
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Requests written and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Answers that arrived after their request had already timed out (ignored). */
  get lateAnswerCount(): number {
    return this.lateAnswers;
  }

  waitConnected(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectionListeners.delete(listener);
        reject(
          new GatewayError(
            'GW_ERR_BROKER_UNAVAILABLE',
            `no connection to ${this.endpoint} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const listener = (up: boolean) => {
        if (!up) return;
        clearTimeout(timer);
        this.connectionListeners.delete(listener);
        resolve();
      };
      this.connectionListeners.add(listener);
    });
  }

  /**
   * Connection up/down notifications (readiness, StormGuard). The listener is called at once with the
   * current state, so a broker that is down from the start is reported too. Returns an unsubscribe function.
   */
  onConnectionChange(listener: (connected: boolean) => void): () => void {
    listener(this.ready);
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  place(order: BrokerOrder): Promise<PlaceResult> {
    return this.request({ t: 'place', order }) as Promise<PlaceResult>;
  }

  cancel(clientOrderId: string, epoch: number): Promise<PlaceResult> {
    return this.request({ t: 'cancel', clientOrderId, epoch }) as Promise<PlaceResult>;
  }

  queryByClientOrderId(clientOrderId: string): Promise<OrderStatus | null> {
    return this.request({ t: 'query', clientOrderId }) as Promise<OrderStatus | null>;
  }

  onExecutionReport(listener: (report: ExecutionReport) => void): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.failAllPending('adapter closed with the request in flight');
    this.setReady(false);
  }

  private get endpoint(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  private request(body: RequestBody): Promise<unknown> {
    const socket = this.socket;
    if (this.closed || !this.ready || !socket || !socket.writable) {
      return Promise.reject(
        new GatewayError('GW_ERR_BROKER_UNAVAILABLE', `not connected to ${this.endpoint}`, { op: body.t }),
      );
    }
    if (this.pending.size >= this.opts.maxInFlight) {
      return Promise.reject(
        new GatewayError('GW_ERR_BROKER_UNAVAILABLE', `${this.pending.size} requests in flight (max)`, {
          op: body.t,
        }),
      );
    }
    if (socket.writableLength + this.outBuffer.length > MAX_UNSENT_BYTES) {
      return Promise.reject(
        new GatewayError('GW_ERR_BROKER_UNAVAILABLE', 'socket backlog full', { op: body.t }),
      );
    }
    const id = this.nextId++;
    const line = `${JSON.stringify({ ...body, id } as VenueRequest)}\n`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        op: body.t,
        deadline: performance.now() + this.opts.requestTimeoutMs,
        resolve,
        reject,
      });
      // Written as far as this adapter can tell: from here the outcome is unknown unless answered.
      if (this.outSocket !== socket) {
        this.outSocket = socket;
        this.outBuffer = line;
        process.nextTick(this.flush);
      } else {
        this.outBuffer += line;
      }
    });
  }

  private readonly flush = (): void => {
    const socket = this.outSocket;
    const data = this.outBuffer;
    this.outSocket = undefined;
    this.outBuffer = '';
    // A socket closed meanwhile has failed these requests as unanswered (GW_ERR_BROKER_TIMEOUT) already.
    if (socket && socket === this.socket && socket.writable) socket.write(data);
  };

  private dial(): void {
    if (this.closed) return;
    const socket = connect({ host: this.opts.host, port: this.opts.port, noDelay: true });
    this.socket = socket;
    const connectTimer = setTimeout(() => socket.destroy(), this.opts.connectTimeoutMs);
    const splitter = new LineSplitter(
      (line) => this.onLine(line),
      () => socket.destroy(),
      16 * 1024 * 1024,
    );
    // Connected means the venue's hello arrived, not merely that TCP accepted: a venue in outage accepts
    // and closes at once, and that must not count as a working connection.
    this.onHello = () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.logger?.info({ endpoint: this.endpoint }, 'broker connected');
      this.setReady(true);
    };
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', (err) => {
      this.logger?.debug({ err: err.message, endpoint: this.endpoint }, 'broker socket error');
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.ready) this.logger?.warn({ endpoint: this.endpoint }, 'broker connection lost');
      this.setReady(false);
      this.failAllPending('connection lost with the request in flight');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.attempt += 1;
    const delay = Math.max(1, backoffMs(this.attempt, this.opts.reconnectBaseMs, this.opts.reconnectMaxMs));
    this.reconnectTimer = setTimeout(() => this.dial(), delay);
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    for (const listener of [...this.connectionListeners]) {
      try {
        listener(ready);
      } catch (err) {
        this.logger?.error({ err }, 'broker connection listener threw');
      }
    }
  }

  private onLine(line: string): void {
    let message: VenueMessage;
    try {
      message = JSON.parse(line) as VenueMessage;
    } catch {
      this.logger?.warn({ line: line.slice(0, 200) }, 'venue sent a line that is not JSON');
      return;
    }
    if (message.t === 'hello') {
      this.onHello();
      return;
    }
    if (message.t === 'exec') {
      for (const listener of this.reportListeners) {
        try {
          listener(message.report);
        } catch (err) {
          this.logger?.error({ err }, 'execution report listener threw');
        }
      }
      return;
    }
    if (message.t !== 'res') return;
    const pending = this.pending.get(message.id);
    if (!pending) {
      this.lateAnswers += 1;
      return;
    }
    this.pending.delete(message.id);
    if (message.ok) {
      pending.resolve(message.result);
    } else if (message.error === 'VENUE_ERROR') {
      pending.reject(
        new GatewayError('GW_ERR_BROKER_UNAVAILABLE', `venue refused ${pending.op}: ${message.message}`, {
          op: pending.op,
        }),
      );
    } else {
      pending.reject(
        new GatewayError('GW_ERR_INTERNAL', `venue rejected ${pending.op} as malformed: ${message.message}`, {
          op: pending.op,
        }),
      );
    }
  }

  private sweepTimeouts(): void {
    if (this.pending.size === 0) return;
    const now = performance.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) break;
      this.pending.delete(id);
      pending.reject(
        new GatewayError(
          'GW_ERR_BROKER_TIMEOUT',
          `${pending.op} unanswered after ${this.opts.requestTimeoutMs} ms`,
          {
            op: pending.op,
          },
        ),
      );
    }
  }

  private failAllPending(why: string): void {
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const pending of failed) {
      pending.reject(new GatewayError('GW_ERR_BROKER_TIMEOUT', `${pending.op}: ${why}`, { op: pending.op }));
    }
  }
}
