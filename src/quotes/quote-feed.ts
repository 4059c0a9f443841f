import type { QuoteTopic } from './config.js';

/**
 * Called by a feed adapter for each quote, on whatever thread/turn the broker SDK delivers it. `payload`
 * is the raw envelope exactly as delivered (JSON text or its bytes). `symbolId` is the index of the
 * quote's symbol in the list passed to `subscribe`, when the adapter knows it without parsing (a
 * per-subscription callback or topic handle); -1 otherwise. The callback never throws and returns at
 * once. The ring keeps a reference to `payload`, so a Buffer must not be mutated after the call (an
 * adapter over an SDK that reuses its receive buffer copies it first).
 */
export type QuoteCallback = (payload: string | Buffer, symbolId: number) => void;

/** A broker market-data adapter (the real broker SDK, the feed simulator, a recorded-file replayer). */
export interface QuoteFeed {
  /** The quote schema version the feed announces at connect time, when it announces one. */
  readonly quoteVersion?: string;
  subscribe(symbols: readonly string[], topics: readonly QuoteTopic[]): Promise<void>;
  onTick(callback: QuoteCallback): void;
  onBidAsk(callback: QuoteCallback): void;
}
