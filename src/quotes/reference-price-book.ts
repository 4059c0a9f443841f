import type { ReferencePrice, ReferencePrices } from '../contracts/reference-price.js';

interface Entry {
  price: number;
  monoMs: number;
}

/**
 * The latest trade price per symbol with its monotonic receive time, written by the quote workers and
 * read by the gateway's price collar (`ReferencePrices`). Prices are scaled integers (PRICE_SCALE).
 *
 * One entry object per symbol, updated in place: the hot path allocates only when a symbol is first
 * seen. `get` returns that live entry; callers read `price` and `monoMs` in the same synchronous turn
 * (Node is single-threaded, so the pair is always consistent) and must not keep it across turns.
 */
export class ReferencePriceBook implements ReferencePrices {
  private readonly entries = new Map<string, Entry>();

  get(symbol: string): ReferencePrice | undefined {
    return this.entries.get(symbol);
  }

  /** Records a trade price. An older receive time never overwrites a newer one. */
  update(symbol: string, price: number, monoMs: number): void {
    const entry = this.entries.get(symbol);
    if (entry === undefined) {
      this.entries.set(symbol, { price, monoMs });
    } else if (monoMs >= entry.monoMs) {
      entry.price = price;
      entry.monoMs = monoMs;
    }
  }

  /** Milliseconds since the symbol's price was received, or undefined when there is none. */
  ageMs(symbol: string, nowMonoMs: number): number | undefined {
    const entry = this.entries.get(symbol);
    return entry === undefined ? undefined : nowMonoMs - entry.monoMs;
  }

  /** Age of the stalest price kept (0 when empty): the alertable "quotes stopped" signal. */
  oldestAgeMs(nowMonoMs: number): number {
    let oldest = nowMonoMs;
    for (const entry of this.entries.values()) if (entry.monoMs < oldest) oldest = entry.monoMs;
    return nowMonoMs - oldest;
  }

  get size(): number {
    return this.entries.size;
  }
}
