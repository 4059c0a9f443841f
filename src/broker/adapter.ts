/**
 * The narrow interface between the gateway and a broker/venue. Quantities and prices are scaled integers.
 * Outcomes are definitive or unknown: `place` resolves only with a definitive answer; a transport failure
 * before the request was surely sent throws GW_ERR_BROKER_UNAVAILABLE (not sent), and one after it may have
 * been sent throws GW_ERR_BROKER_TIMEOUT (unknown: reconcile by client order id, never blindly retry).
 */
import type { Side, Tif } from '../contracts/intent.js';

export interface BrokerOrder {
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly tif: Tif;
  /** Fencing epoch of the dispatching gateway: lets the venue (and chaos checks) see who sent what. */
  readonly epoch: number;
}

export type OrderState = 'ACKED' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'REJECTED';

export interface PlaceResult {
  readonly clientOrderId: string;
  readonly state: OrderState;
  /** Venue's reason for a REJECTED (e.g. DUPLICATE_CLIENT_ORDER_ID, INSUFFICIENT_…); null otherwise. */
  readonly rejectReason: string | null;
  readonly venueOrderId: string | null;
}

export interface OrderStatus {
  readonly clientOrderId: string;
  readonly state: OrderState;
  readonly filledQty: number;
  readonly epoch: number;
}

export interface ExecutionReport {
  readonly clientOrderId: string;
  readonly state: OrderState;
  /** Quantity filled by this report (0 for state changes without a fill). */
  readonly lastQty: number;
  readonly lastPrice: number;
  readonly cumQty: number;
  readonly tsNs: string;
}

export interface BrokerAdapter {
  place(order: BrokerOrder): Promise<PlaceResult>;
  cancel(clientOrderId: string, epoch: number): Promise<PlaceResult>;
  /** null when the venue has never seen this client order id. */
  queryByClientOrderId(clientOrderId: string): Promise<OrderStatus | null>;
  /** Subscribes to execution reports; returns an unsubscribe function. */
  onExecutionReport(listener: (report: ExecutionReport) => void): () => void;
  close(): Promise<void>;
}
