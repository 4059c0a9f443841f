import type { RejectReason } from '../errors.js';
import { KIND_SPECS, type FieldType, type QuoteKind } from './quote-schema-v1.js';

export type FieldValue = number | boolean | string | number[];
export type NormalizedFields = Readonly<Record<string, FieldValue>>;

/** Why one field failed (the reference validator's answer; the scanner never rejects). */
export class FieldFailure {
  constructor(
    readonly reason: Extract<RejectReason, `QUOTE_${string}`>,
    readonly detail: string,
  ) {}
}

/** Field names and types of one kind, in schema order (the order of `values` below). */
export interface KindLayout {
  readonly names: readonly string[];
  readonly types: readonly FieldType[];
  /** Field name → position. */
  readonly index: ReadonlyMap<string, number>;
  /** `"name":` per field, as bytes: a first key as the scanner expects it. */
  readonly firstKeys: readonly Uint8Array[];
  /** `,"name":` per field, as bytes: any later key. */
  readonly nextKeys: readonly Uint8Array[];
  /** Every field's bit set (a payload must carry all of them; at most 31 fields). */
  readonly allMask: number;
}

function layout(kind: QuoteKind): KindLayout {
  const spec = KIND_SPECS[kind];
  const names = Object.keys(spec);
  if (names.length > 31) throw new Error(`${kind}: more fields than a presence bit mask holds`);
  return {
    names,
    types: names.map((n) => spec[n] as FieldType),
    index: new Map(names.map((n, i) => [n, i])),
    firstKeys: names.map((n) => Buffer.from(`"${n}":`, 'latin1')),
    nextKeys: names.map((n) => Buffer.from(`,"${n}":`, 'latin1')),
    allMask: 2 ** names.length - 1,
  };
}

export const LAYOUTS: Readonly<Record<QuoteKind, KindLayout>> = Object.freeze({
  stock_tick: layout('stock_tick'),
  stock_bidask: layout('stock_bidask'),
  fop_tick: layout('fop_tick'),
});

/*
 * One object literal per kind, keys in schema order. Written out by hand rather than generated or built
 * with keyed stores in a loop: a literal gives every quote of a kind the same hidden class, which keeps
 * the WAL's JSON.stringify and the subscribers' property reads on V8's fast paths. test/quotes checks
 * that each builder's keys are exactly the schema's, in order.
 */
const stockTick = (v: FieldValue[]): NormalizedFields => ({
  code: v[0] as string,
  datetime: v[1] as string,
  open: v[2] as number,
  close: v[3] as number,
  high: v[4] as number,
  low: v[5] as number,
  avg_price: v[6] as number,
  amount: v[7] as number,
  total_amount: v[8] as number,
  volume: v[9] as number,
  total_volume: v[10] as number,
  tick_type: v[11] as number,
  chg_type: v[12] as number,
  price_chg: v[13] as number,
  pct_chg: v[14] as number,
  bid_side_total_vol: v[15] as number,
  ask_side_total_vol: v[16] as number,
  bid_side_total_cnt: v[17] as number,
  ask_side_total_cnt: v[18] as number,
  closing_oddlot_shares: v[19] as number,
  fixed_trade_vol: v[20] as number,
  suspend: v[21] as boolean,
  simtrade: v[22] as boolean,
  intraday_odd: v[23] as boolean,
});

const stockBidAsk = (v: FieldValue[]): NormalizedFields => ({
  code: v[0] as string,
  datetime: v[1] as string,
  bid_price: v[2] as number[],
  bid_volume: v[3] as number[],
  diff_bid_vol: v[4] as number[],
  ask_price: v[5] as number[],
  ask_volume: v[6] as number[],
  diff_ask_vol: v[7] as number[],
  suspend: v[8] as boolean,
  simtrade: v[9] as boolean,
  intraday_odd: v[10] as boolean,
});

const fopTick = (v: FieldValue[]): NormalizedFields => ({
  code: v[0] as string,
  datetime: v[1] as string,
  open: v[2] as number,
  underlying_price: v[3] as number,
  bid_side_total_vol: v[4] as number,
  ask_side_total_vol: v[5] as number,
  avg_price: v[6] as number,
  close: v[7] as number,
  high: v[8] as number,
  low: v[9] as number,
  amount: v[10] as number,
  total_amount: v[11] as number,
  volume: v[12] as number,
  total_volume: v[13] as number,
  tick_type: v[14] as number,
  chg_type: v[15] as number,
  price_chg: v[16] as number,
  pct_chg: v[17] as number,
  simtrade: v[18] as boolean,
});

/** Builds the normalized `fields` object of a kind from its values in schema order. */
export const BUILD_FIELDS: Readonly<Record<QuoteKind, (values: FieldValue[]) => NormalizedFields>> =
  Object.freeze({ stock_tick: stockTick, stock_bidask: stockBidAsk, fop_tick: fopTick });

/** Longest field list of any kind: the size of a reusable values array. */
export const MAX_FIELDS = Math.max(...Object.values(LAYOUTS).map((l) => l.names.length));
