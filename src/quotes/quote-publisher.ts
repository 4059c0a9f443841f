import type { NormalizedQuote } from './quote-schema-v1.js';

export type QuoteListener = (quote: NormalizedQuote) => void;

/**
 * In-process fan-out of validated quotes to subscribers (strategy adapters, the bench, tests). Delivery
 * is synchronous inside the worker turn, so a listener must be quick and must not await; a listener
 * that throws is reported through `onError` and the others still get the quote. Cross-process fan-out to
 * strategy workers is one such listener: RedisQuotePublisher (redis-quote-publisher.ts).
 */
export class QuotePublisher {
  private listeners: QuoteListener[] = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  subscribe(listener: QuoteListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  publish(quote: NormalizedQuote): void {
    // Copy-on-write list: a listener that unsubscribes during delivery does not disturb this loop.
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        (listeners[i] as QuoteListener)(quote);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
