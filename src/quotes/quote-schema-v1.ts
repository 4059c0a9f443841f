/**
 * Quote schema v1 (CE2-11), modelled on the original broker API's (Shioaji) v1 quote objects:
 * TickSTKv1, BidAskSTKv1 and TickFOPv1. The wire envelope is one JSON object:
 *
 *   {"quote_version":"v1","kind":"stock_tick","payload":{ …the v1 fields, every one required… }}
 *
 * Prices and money are decimal strings ("585.5") and become scaled integers (PRICE_SCALE) exactly;
 * volumes and counts are JSON integers; flags are booleans. A JSON number where a decimal string belongs
 * is a type error, not something to coerce: a float on the wire may already have lost the exact value.
 */

export const QUOTE_VERSION_V1 = 'v1';

export const QUOTE_KINDS = ['stock_tick', 'stock_bidask', 'fop_tick'] as const;
export type QuoteKind = (typeof QUOTE_KINDS)[number];

/** Envelope keys; anything else at the top level is QUOTE_UNKNOWN_FIELD. */
export const ENVELOPE_FIELDS = ['quote_version', 'kind', 'payload'] as const;

/**
 * Field types:
 * - `price`: non-negative decimal string → scaled integer.
 * - `signed_price`: decimal string that may be negative (changes) → scaled integer.
 * - `volume`: non-negative safe integer; `signed_volume`: safe integer (diffs).
 * - `*5`: exactly five of the above, best level first.
 * - `datetime`: exchange local time `YYYY-MM-DDTHH:MM:SS[.ffffff]`, kept as text.
 * - `code`: the symbol, letters/digits/_ . - up to 32.
 * - `enum0_2` / `enum1_5`: small integer codes (tick_type 0–2, chg_type 1–5).
 */
export type FieldType =
  | 'code'
  | 'datetime'
  | 'price'
  | 'signed_price'
  | 'volume'
  | 'signed_volume'
  | 'bool'
  | 'enum0_2'
  | 'enum1_5'
  | 'price5'
  | 'volume5'
  | 'signed_volume5';

export type KindSpec = Readonly<Record<string, FieldType>>;

const stockTick: KindSpec = Object.freeze({
  code: 'code',
  datetime: 'datetime',
  open: 'price',
  close: 'price',
  high: 'price',
  low: 'price',
  avg_price: 'price',
  amount: 'price',
  total_amount: 'price',
  volume: 'volume',
  total_volume: 'volume',
  tick_type: 'enum0_2',
  chg_type: 'enum1_5',
  price_chg: 'signed_price',
  pct_chg: 'signed_price',
  bid_side_total_vol: 'volume',
  ask_side_total_vol: 'volume',
  bid_side_total_cnt: 'volume',
  ask_side_total_cnt: 'volume',
  closing_oddlot_shares: 'volume',
  fixed_trade_vol: 'volume',
  suspend: 'bool',
  simtrade: 'bool',
  intraday_odd: 'bool',
});

const stockBidAsk: KindSpec = Object.freeze({
  code: 'code',
  datetime: 'datetime',
  bid_price: 'price5',
  bid_volume: 'volume5',
  diff_bid_vol: 'signed_volume5',
  ask_price: 'price5',
  ask_volume: 'volume5',
  diff_ask_vol: 'signed_volume5',
  suspend: 'bool',
  simtrade: 'bool',
  intraday_odd: 'bool',
});

const fopTick: KindSpec = Object.freeze({
  code: 'code',
  datetime: 'datetime',
  open: 'price',
  underlying_price: 'price',
  bid_side_total_vol: 'volume',
  ask_side_total_vol: 'volume',
  avg_price: 'price',
  close: 'price',
  high: 'price',
  low: 'price',
  amount: 'price',
  total_amount: 'price',
  volume: 'volume',
  total_volume: 'volume',
  tick_type: 'enum0_2',
  chg_type: 'enum1_5',
  price_chg: 'signed_price',
  pct_chg: 'signed_price',
  simtrade: 'bool',
});

export const KIND_SPECS: Readonly<Record<QuoteKind, KindSpec>> = Object.freeze({
  stock_tick: stockTick,
  stock_bidask: stockBidAsk,
  fop_tick: fopTick,
});

/** Which callback (and WAL topic) each kind arrives on. */
export const KIND_TOPIC = Object.freeze({
  stock_tick: 'tick',
  fop_tick: 'tick',
  stock_bidask: 'bidask',
} as const satisfies Record<QuoteKind, 'tick' | 'bidask'>);

/** Bid/ask arrays carry exactly this many levels. */
export const BOOK_LEVELS = 5;

/**
 * A validated quote, numbers normalized: every `price`/`signed_price` field is a scaled integer
 * (PRICE_SCALE), arrays likewise. This is the object recorded to the WAL and published.
 */
export interface NormalizedQuote {
  readonly quote_version: string;
  readonly kind: QuoteKind;
  readonly code: string;
  readonly datetime: string;
  /** Receive time stamped on the callback, as wall-clock ns (decimal string) derived from the monotonic stamp. */
  readonly recv_ts_ns: string;
  /** Position in the ingress order (1-based, counts dropped quotes too, so gaps show drops). */
  readonly ingress_seq: number;
  readonly fields: Readonly<Record<string, number | boolean | string | readonly number[]>>;
}
