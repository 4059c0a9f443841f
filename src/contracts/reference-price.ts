/**
 * Latest reference price per symbol, kept by the quote workers and read by the gateway's price collar.
 * Prices are scaled integers (PRICE_SCALE); `monoMs` is the monotonic receive time, so age is
 * `clock.monoMs() - monoMs` and is immune to wall-clock steps.
 */
export interface ReferencePrice {
  readonly price: number;
  readonly monoMs: number;
}

export interface ReferencePrices {
  get(symbol: string): ReferencePrice | undefined;
}
