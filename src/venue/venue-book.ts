import type { ExecutionReport, OrderState, OrderStatus, PlaceResult } from '../broker/adapter.js';
import { SIDES, TIFS } from '../contracts/intent.js';
import { MAX_SCALED } from '../contracts/scaled.js';
import {
  DEFAULT_FAULTS,
  type VenueCounters,
  type VenueFaults,
  type VenueFill,
  type VenueOrderRecord,
  VENUE_REJECTS,
  type WireOrder,
} from './protocol.js';
import { SeededRandom } from './prng.js';

type MutableOrder = { -readonly [K in keyof VenueOrderRecord]: VenueOrderRecord[K] } & {
  fills: VenueFill[];
  duplicateEpochs: number[];
};

const zeroCounters = (): VenueCounters => ({
  placeRequests: 0,
  accepted: 0,
  duplicateAttempts: 0,
  rejects: 0,
  cancelRequests: 0,
  canceled: 0,
  cancelRejects: 0,
  queries: 0,
  fills: 0,
  injectedErrors: 0,
  droppedReplies: 0,
  badRequests: 0,
  connectionsAccepted: 0,
  connectionsRefused: 0,
  openConnections: 0,
});

const COID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The venue's matching-free order book: the order log keyed by client order id (the oracle chaos tests
 * read), counters, fills by mode, and the fault knobs that are decided per request. No I/O: the servers
 * call it, and it reports execution reports through `emit`.
 */
export class VenueBook {
  private readonly orders = new Map<string, MutableOrder>();
  private counters = zeroCounters();
  private faults: VenueFaults;
  private random: SeededRandom;
  private nextVenueId = 1;

  constructor(
    private readonly opts: {
      seed: number;
      maxOrders: number;
      emit: (report: ExecutionReport) => void;
      nowNs: () => string;
      /** Faults at start and after reset (the CLI's fill mode and latency). */
      initialFaults?: VenueFaults;
    },
  ) {
    this.random = new SeededRandom(opts.seed);
    this.faults = opts.initialFaults ?? DEFAULT_FAULTS;
  }

  get counts(): VenueCounters {
    return this.counters;
  }

  currentFaults(): VenueFaults {
    return this.faults;
  }

  setFaults(next: VenueFaults, seed?: number): void {
    this.faults = Object.freeze({ ...next });
    if (seed !== undefined) this.random = new SeededRandom(seed);
  }

  reset(): void {
    this.orders.clear();
    this.counters = { ...zeroCounters(), openConnections: this.counters.openConnections };
    this.faults = this.opts.initialFaults ?? DEFAULT_FAULTS;
    this.random = new SeededRandom(this.opts.seed);
    this.nextVenueId = 1;
  }

  orderLog(): VenueOrderRecord[] {
    return [...this.orders.values()];
  }

  /** Per-request fault draw: answer VENUE_ERROR without processing. */
  drawError(): boolean {
    const hit = this.random.chance(this.faults.errorPerMille);
    if (hit) this.counters.injectedErrors += 1;
    return hit;
  }

  /** Per-request fault draw: process but never answer. */
  drawDropReply(): boolean {
    const hit = this.random.chance(this.faults.dropReplyPerMille);
    if (hit) this.counters.droppedReplies += 1;
    return hit;
  }

  place(order: WireOrder): PlaceResult {
    this.counters.placeRequests += 1;
    const existing = this.orders.get(order.clientOrderId);
    if (existing) {
      existing.duplicateAttempts += 1;
      existing.duplicateEpochs.push(order.epoch);
      this.counters.duplicateAttempts += 1;
      this.counters.rejects += 1;
      return this.rejected(order.clientOrderId, VENUE_REJECTS.DUPLICATE_CLIENT_ORDER_ID);
    }
    let reason: string | null = null;
    if (!isValidOrder(order)) reason = VENUE_REJECTS.INVALID_ORDER;
    else if (this.orders.size >= this.opts.maxOrders) reason = VENUE_REJECTS.VENUE_CAPACITY;
    else if (this.random.chance(this.faults.rejectPerMille)) reason = VENUE_REJECTS.VENUE_REJECT;
    if (reason !== null) {
      this.counters.rejects += 1;
      // Capacity rejects are not logged: logging them would defeat the cap.
      if (reason !== VENUE_REJECTS.VENUE_CAPACITY) this.record(order, null, 'REJECTED', reason);
      return this.rejected(order.clientOrderId, reason);
    }
    const venueOrderId = `V${this.nextVenueId++}`;
    this.record(order, venueOrderId, 'ACKED', null);
    this.counters.accepted += 1;
    return { clientOrderId: order.clientOrderId, state: 'ACKED', rejectReason: null, venueOrderId };
  }

  /** Fills per the fill mode; called by the server after the place answer is written. */
  fillAfterAck(clientOrderId: string): void {
    const order = this.orders.get(clientOrderId);
    if (!order || order.state !== 'ACKED') return;
    const mode = this.faults.fillMode;
    if (mode === 'none') return;
    const qty = mode === 'immediate' || order.qty === 1 ? order.qty : Math.ceil(order.qty / 2);
    this.fill(order, qty);
  }

  /**
   * Fills `qty` lots of an open order now, as a counterparty would (the oracle's POST /fill). Returns the
   * order's state afterwards, or null when the order is unknown or no longer open. Capped at what is open.
   */
  fillNow(clientOrderId: string, qty: number): OrderState | null {
    const order = this.orders.get(clientOrderId);
    if (!order || (order.state !== 'ACKED' && order.state !== 'PARTIALLY_FILLED')) return null;
    this.fill(order, Math.min(qty, order.qty - order.filledQty));
    return order.state;
  }

  cancel(clientOrderId: string, epoch: number): PlaceResult {
    this.counters.cancelRequests += 1;
    const order = typeof clientOrderId === 'string' ? this.orders.get(clientOrderId) : undefined;
    if (!order) {
      this.counters.cancelRejects += 1;
      return this.rejected(String(clientOrderId), VENUE_REJECTS.UNKNOWN_ORDER);
    }
    if (order.state !== 'ACKED' && order.state !== 'PARTIALLY_FILLED') {
      this.counters.cancelRejects += 1;
      return {
        clientOrderId,
        state: order.state,
        rejectReason: VENUE_REJECTS.ORDER_NOT_OPEN,
        venueOrderId: order.venueOrderId,
      };
    }
    order.state = 'CANCELED';
    order.cancelEpoch = epoch;
    this.counters.canceled += 1;
    this.opts.emit({
      clientOrderId,
      state: 'CANCELED',
      lastQty: 0,
      lastPrice: 0,
      cumQty: order.filledQty,
      tsNs: this.opts.nowNs(),
    });
    return { clientOrderId, state: 'CANCELED', rejectReason: null, venueOrderId: order.venueOrderId };
  }

  query(clientOrderId: string): OrderStatus | null {
    this.counters.queries += 1;
    const order = typeof clientOrderId === 'string' ? this.orders.get(clientOrderId) : undefined;
    if (!order) return null;
    return { clientOrderId, state: order.state, filledQty: order.filledQty, epoch: order.epoch };
  }

  countBadRequest(): void {
    this.counters.badRequests += 1;
  }

  countConnection(accepted: boolean): void {
    if (accepted) {
      this.counters.connectionsAccepted += 1;
      this.counters.openConnections += 1;
    } else {
      this.counters.connectionsRefused += 1;
    }
  }

  countDisconnect(): void {
    this.counters.openConnections -= 1;
  }

  private fill(order: MutableOrder, qty: number): void {
    const tsNs = this.opts.nowNs();
    order.filledQty += qty;
    order.fills.push({ qty, price: order.price, tsNs });
    order.state = order.filledQty >= order.qty ? 'FILLED' : 'PARTIALLY_FILLED';
    this.counters.fills += 1;
    this.opts.emit({
      clientOrderId: order.clientOrderId,
      state: order.state,
      lastQty: qty,
      lastPrice: order.price,
      cumQty: order.filledQty,
      tsNs,
    });
  }

  private record(
    order: WireOrder,
    venueOrderId: string | null,
    state: 'ACKED' | 'REJECTED',
    rejectReason: string | null,
  ): MutableOrder {
    const record: MutableOrder = {
      clientOrderId: order.clientOrderId,
      venueOrderId,
      account: String(order.account),
      symbol: String(order.symbol),
      side: order.side,
      qty: order.qty,
      price: order.price,
      tif: order.tif,
      epoch: order.epoch,
      state,
      rejectReason,
      filledQty: 0,
      fills: [],
      duplicateAttempts: 0,
      duplicateEpochs: [],
      cancelEpoch: null,
      receivedTsNs: this.opts.nowNs(),
    };
    this.orders.set(order.clientOrderId, record);
    return record;
  }

  private rejected(clientOrderId: string, reason: string): PlaceResult {
    return { clientOrderId, state: 'REJECTED', rejectReason: reason, venueOrderId: null };
  }
}

const positive = (v: unknown): boolean =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= MAX_SCALED;

function isValidOrder(o: WireOrder): boolean {
  return (
    positive(o.qty) &&
    positive(o.price) &&
    (SIDES as readonly unknown[]).includes(o.side) &&
    (TIFS as readonly unknown[]).includes(o.tif) &&
    typeof o.account === 'string' &&
    typeof o.symbol === 'string' &&
    Number.isSafeInteger(o.epoch)
  );
}

/** True when a place request carries a usable client order id (otherwise BAD_REQUEST, not processed). */
export function isClientOrderId(value: unknown): value is string {
  return typeof value === 'string' && COID.test(value);
}
