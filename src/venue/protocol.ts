import type { ExecutionReport, OrderState, OrderStatus, PlaceResult } from '../broker/adapter.js';
import type { Side, Tif } from '../contracts/intent.js';

/**
 * Wire protocol of the venue simulator's order port: newline-delimited JSON over TCP, one object per line.
 *
 * Client → venue (requests, pipelined; `id` is the client's, echoed back):
 *   {"t":"place","id":1,"order":{clientOrderId,account,symbol,side,qty,price,tif,epoch}}
 *   {"t":"cancel","id":2,"clientOrderId":"…","epoch":3}
 *   {"t":"query","id":3,"clientOrderId":"…"}
 * Venue → client:
 *   {"t":"hello","protocol":1}   (first line on every accepted connection; the client is connected only
 *                                  once it has read it, so an accept-then-close during an outage never
 *                                  looks like a working connection)
 *   {"t":"res","id":1,"ok":true,"result":PlaceResult | OrderStatus | null}
 *   {"t":"res","id":1,"ok":false,"error":"VENUE_ERROR"|"BAD_REQUEST","message":"…"}  (request NOT processed)
 *   {"t":"exec","report":ExecutionReport}   (pushed to every open order connection)
 *
 * An `ok:false` answer means the venue did not process the request (nothing changed), so the broker
 * adapter maps it to "not sent". Anything processed is `ok:true`, including business rejects
 * (PlaceResult state REJECTED with a reason).
 */
export interface WireOrder {
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly tif: Tif;
  readonly epoch: number;
}

export type VenueRequest =
  | { readonly t: 'place'; readonly id: number; readonly order: WireOrder }
  | { readonly t: 'cancel'; readonly id: number; readonly clientOrderId: string; readonly epoch: number }
  | { readonly t: 'query'; readonly id: number; readonly clientOrderId: string };

export type VenueErrorCode = 'VENUE_ERROR' | 'BAD_REQUEST';

export type VenueMessage =
  | {
      readonly t: 'res';
      readonly id: number;
      readonly ok: true;
      readonly result: PlaceResult | OrderStatus | null;
    }
  | {
      readonly t: 'res';
      readonly id: number;
      readonly ok: false;
      readonly error: VenueErrorCode;
      readonly message: string;
    }
  | { readonly t: 'exec'; readonly report: ExecutionReport }
  | { readonly t: 'hello'; readonly protocol: typeof VENUE_PROTOCOL_VERSION };

export const VENUE_PROTOCOL_VERSION = 1;

/** Venue business reject reasons (PlaceResult.rejectReason). */
export const VENUE_REJECTS = {
  DUPLICATE_CLIENT_ORDER_ID: 'DUPLICATE_CLIENT_ORDER_ID',
  INVALID_ORDER: 'INVALID_ORDER',
  VENUE_REJECT: 'VENUE_REJECT',
  VENUE_CAPACITY: 'VENUE_CAPACITY',
  UNKNOWN_ORDER: 'UNKNOWN_ORDER',
  ORDER_NOT_OPEN: 'ORDER_NOT_OPEN',
} as const;

export const FILL_MODES = ['none', 'immediate', 'partial'] as const;
export type FillMode = (typeof FILL_MODES)[number];

/** Fault injection state (POST /faults merges a partial object into it). */
export interface VenueFaults {
  /** Delay before each order request is processed and answered. */
  readonly latencyMs: number;
  /** Per-mille of order requests answered `VENUE_ERROR` without being processed. */
  readonly errorPerMille: number;
  /** Per-mille of order requests processed but never answered (the ambiguous case: outcome unknown). */
  readonly dropReplyPerMille: number;
  /** Per-mille of valid new orders refused with REJECTED / VENUE_REJECT (recorded in the order log). */
  readonly rejectPerMille: number;
  /** true: every order connection is closed and new ones are closed on accept. */
  readonly outage: boolean;
  readonly fillMode: FillMode;
}

export const DEFAULT_FAULTS: VenueFaults = Object.freeze({
  latencyMs: 0,
  errorPerMille: 0,
  dropReplyPerMille: 0,
  rejectPerMille: 0,
  outage: false,
  fillMode: 'immediate',
});

export interface VenueFill {
  readonly qty: number;
  readonly price: number;
  readonly tsNs: string;
}

/** One entry of GET /orders: every order the venue accepted or rejected, in arrival order. */
export interface VenueOrderRecord {
  readonly clientOrderId: string;
  readonly venueOrderId: string | null;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly price: number;
  readonly tif: Tif;
  readonly epoch: number;
  readonly state: OrderState;
  readonly rejectReason: string | null;
  readonly filledQty: number;
  readonly fills: readonly VenueFill[];
  /** Later place requests that reused this client order id (each refused). */
  readonly duplicateAttempts: number;
  /** Epochs of those duplicate attempts, in order (who tried to send it again). */
  readonly duplicateEpochs: readonly number[];
  /** Epoch of the gateway whose cancel closed the order; null when not canceled. */
  readonly cancelEpoch: number | null;
  readonly receivedTsNs: string;
}

/** GET /counters. */
export interface VenueCounters {
  placeRequests: number;
  /** Orders accepted (ACKED), each client order id at most once. */
  accepted: number;
  /** Place requests refused as DUPLICATE_CLIENT_ORDER_ID. */
  duplicateAttempts: number;
  /** Place requests refused for any reason (duplicates included). */
  rejects: number;
  cancelRequests: number;
  canceled: number;
  cancelRejects: number;
  queries: number;
  fills: number;
  injectedErrors: number;
  droppedReplies: number;
  badRequests: number;
  connectionsAccepted: number;
  connectionsRefused: number;
  openConnections: number;
}
