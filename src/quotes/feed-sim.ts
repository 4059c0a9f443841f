import { pathToFileURL } from 'node:url';
import { PRICE_SCALE, formatScaled, parseDecimal } from '../contracts/scaled.js';
import { SeededRandom } from '../venue/prng.js';
import type { QuoteTopic } from './config.js';
import { FeedServer } from './feed-server.js';
import type { QuoteCallback, QuoteFeed } from './quote-feed.js';
import { QUOTE_VERSION_V1 } from './quote-schema-v1.js';

/**
 * Feed simulator: realistic quote schema v1 streams (stock ticks, stock bid/ask, futures ticks) for
 * tests, benchmarks and local runs. Usable in-process (a `QuoteFeed`) and as a process that writes the
 * stream to stdout, one quote per line as `<topic>\t<symbolId>\t<envelope JSON>`:
 *
 *   npx tsx src/quotes/feed-sim.ts --seed=7 --symbols=2330,2317,TXFL6 --rate=2000 --seconds=5
 *
 * The content is a pure function of the seed and the subscription: the same seed yields the same
 * quotes in the same order (`generate()`), whatever the timing. Prices are integers in PRICE_SCALE units
 * throughout and are written with `formatScaled`, so the text is exact. `start()` delivers at
 * `ratePerSec` from a 1 ms timer and, every `burstEveryMs`, a burst of `burstSize` quotes in one
 * synchronous run (what a broker SDK does when a delayed TCP segment releases a backlog).
 */

export interface FeedSimOptions {
  readonly seed: number;
  /** Quotes per second across all symbols and topics when started. */
  readonly ratePerSec?: number;
  /** Per mille of quotes that are bid/ask updates (the rest are ticks). */
  readonly bidAskPerMille?: number;
  /** Per mille of ticks flagged `simtrade` (trial matches during auctions). */
  readonly simtradePerMille?: number;
  readonly burstEveryMs?: number;
  readonly burstSize?: number;
  /** Session date the simulated exchange timestamps fall on. */
  readonly sessionDate?: string;
  /**
   * Previous close (scaled, PRICE_SCALE) per symbol, snapped down to the tick grid; symbols not listed
   * get one from the seed. Lets a drill line the market up with the prices its strategies send.
   */
  readonly referencePrices?: Readonly<Record<string, number>>;
  /**
   * Daily price limit around the reference in basis points (the exchange's limit-up/limit-down band;
   * TWSE uses ±10 %): trades never leave it, so a long run cannot drift without bound.
   */
  readonly limitBps?: number;
}

export interface SimQuote {
  readonly topic: QuoteTopic;
  readonly symbolId: number;
  readonly payload: string;
}

interface SymbolState {
  readonly code: string;
  readonly futures: boolean;
  readonly tick: number;
  readonly reference: number;
  readonly limitDown: number;
  readonly limitUp: number;
  readonly open: number;
  price: number;
  high: number;
  low: number;
  underlying: number;
  totalVolume: number;
  totalAmount: bigint;
  bidSideVol: number;
  askSideVol: number;
  bidSideCnt: number;
  askSideCnt: number;
}

const P = PRICE_SCALE;
const PLACES = 4;
/** Taiwan-style tick size by price band, in scaled units. */
function tickSize(price: number): number {
  if (price < 10 * P) return P / 100;
  if (price < 50 * P) return P / 20;
  if (price < 100 * P) return P / 10;
  if (price < 500 * P) return P / 2;
  if (price < 1000 * P) return P;
  return 5 * P;
}
/** Decimal text the way the broker writes it: no trailing zeros ("585.5", "586", "0.25"). */
const dec = (scaled: number) => formatScaled(scaled, PLACES).replace(/\.?0+$/, '');

export class FeedSimulator implements QuoteFeed {
  readonly quoteVersion = QUOTE_VERSION_V1;
  private readonly rng: SeededRandom;
  private readonly options: Required<FeedSimOptions>;
  private symbols: SymbolState[] = [];
  private topics: readonly QuoteTopic[] = ['tick', 'bidask'];
  private tickCallback: QuoteCallback | null = null;
  private bidAskCallback: QuoteCallback | null = null;
  private micros = 0;
  private timer: NodeJS.Timeout | undefined;
  private emitted = 0;

  constructor(options: FeedSimOptions) {
    this.options = {
      ratePerSec: 1_000,
      bidAskPerMille: 600,
      simtradePerMille: 20,
      burstEveryMs: 0,
      burstSize: 0,
      sessionDate: '2026-11-24',
      referencePrices: {},
      limitBps: 1_000,
      ...options,
    };
    this.rng = new SeededRandom(options.seed);
  }

  async subscribe(symbols: readonly string[], topics: readonly QuoteTopic[]): Promise<void> {
    this.topics = topics;
    this.symbols = symbols.map((code) => {
      const futures = /^[A-Z]{3}[A-L][0-9]$/.test(code);
      // Starting prices from the seed: 20.00–999.5 for stocks, 15000–25000 for index futures.
      const seeded = futures ? (15_000 + this.int(10_000)) * P : (20 + this.int(980)) * P;
      const base = this.options.referencePrices[code] ?? seeded;
      const tick = futures ? P : tickSize(base);
      const reference = Math.max(tick, base - (base % tick));
      const band = Math.floor((reference * this.options.limitBps) / 10_000 / tick) * tick;
      return {
        code,
        futures,
        tick,
        reference,
        limitDown: Math.max(tick, reference - band),
        limitUp: reference + band,
        open: reference,
        price: reference,
        high: reference,
        low: reference,
        underlying: reference,
        totalVolume: 0,
        totalAmount: 0n,
        bidSideVol: 0,
        askSideVol: 0,
        bidSideCnt: 0,
        askSideCnt: 0,
      };
    });
  }

  onTick(callback: QuoteCallback): void {
    this.tickCallback = callback;
  }

  onBidAsk(callback: QuoteCallback): void {
    this.bidAskCallback = callback;
  }

  /** The next quote of the deterministic stream (does not deliver it). */
  next(): SimQuote {
    if (this.symbols.length === 0) throw new Error('feed simulator: subscribe before generating');
    const symbolId = this.int(this.symbols.length);
    const s = this.symbols[symbolId] as SymbolState;
    this.micros += 1 + this.int(2_000);
    const wantsBidAsk =
      this.topics.includes('bidask') &&
      (!this.topics.includes('tick') || this.rng.chance(this.options.bidAskPerMille));
    if (wantsBidAsk && !s.futures) return { topic: 'bidask', symbolId, payload: this.bidAsk(s) };
    return { topic: 'tick', symbolId, payload: this.tickQuote(s) };
  }

  /** The next `count` quotes of the stream. */
  generate(count: number): SimQuote[] {
    return Array.from({ length: count }, () => this.next());
  }

  /** Generates and delivers `count` quotes synchronously through the registered callbacks. */
  emit(count: number): void {
    for (let i = 0; i < count; i++) this.deliver(this.next());
  }

  deliver(quote: SimQuote): void {
    const callback = quote.topic === 'tick' ? this.tickCallback : this.bidAskCallback;
    callback?.(quote.payload, quote.symbolId);
  }

  /** Delivers at `ratePerSec` (plus bursts) until `stop()`. */
  start(): void {
    if (this.timer) return;
    const started = performance.now();
    let lastBurst = started;
    this.emitted = 0;
    this.timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor(((now - started) * this.options.ratePerSec) / 1_000) - this.emitted;
      // Cap a late timer's catch-up at one second of quotes rather than spinning forever.
      const n = Math.min(due, this.options.ratePerSec);
      this.emit(n);
      this.emitted += n;
      if (this.options.burstEveryMs > 0 && now - lastBurst >= this.options.burstEveryMs) {
        lastBurst = now;
        this.emit(this.options.burstSize);
      }
    }, 1);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private int(bound: number): number {
    return this.rng.nextUint32() % bound;
  }

  private datetime(): string {
    const total = this.micros;
    const seconds = Math.floor(total / 1_000_000) + 9 * 3600;
    const hh = String(Math.floor(seconds / 3600) % 24).padStart(2, '0');
    const mm = String(Math.floor(seconds / 60) % 60).padStart(2, '0');
    const ss = String(seconds % 60).padStart(2, '0');
    const frac = String(total % 1_000_000).padStart(6, '0');
    return `${this.options.sessionDate}T${hh}:${mm}:${ss}.${frac}`;
  }

  private tickQuote(s: SymbolState): string {
    const step = this.int(5) - 2;
    s.price = Math.min(s.limitUp, Math.max(s.limitDown, s.price + step * s.tick));
    s.underlying = Math.max(P, s.underlying + (this.int(3) - 1) * P);
    if (s.price > s.high) s.high = s.price;
    if (s.price < s.low) s.low = s.price;
    const volume = 1 + this.int(50);
    const buy = this.rng.chance(500);
    const simtrade = this.rng.chance(this.options.simtradePerMille);
    s.totalVolume += volume;
    s.totalAmount += BigInt(s.price) * BigInt(volume);
    if (buy) {
      s.askSideVol += volume;
      s.askSideCnt++;
    } else {
      s.bidSideVol += volume;
      s.bidSideCnt++;
    }
    const avg = Number(s.totalAmount / BigInt(s.totalVolume));
    const change = s.price - s.reference;
    // Percent change to two places, truncated toward zero, exactly: change × 100 / reference.
    const pct = Number((BigInt(change) * 100n * 100n) / BigInt(s.reference)) * 100;
    const chgType = change > 0 ? 2 : change < 0 ? 4 : 3;
    const common = {
      code: s.code,
      datetime: this.datetime(),
      open: dec(s.open),
      close: dec(s.price),
      high: dec(s.high),
      low: dec(s.low),
      avg_price: dec(avg),
      amount: dec(s.price * volume),
      total_amount: dec(Number(s.totalAmount)),
      volume,
      total_volume: s.totalVolume,
      tick_type: buy ? 1 : 2,
      chg_type: chgType,
      price_chg: dec(change),
      pct_chg: dec(pct),
    };
    const payload = s.futures
      ? {
          ...common,
          underlying_price: dec(s.underlying),
          bid_side_total_vol: s.bidSideVol,
          ask_side_total_vol: s.askSideVol,
          simtrade,
        }
      : {
          ...common,
          bid_side_total_vol: s.bidSideVol,
          ask_side_total_vol: s.askSideVol,
          bid_side_total_cnt: s.bidSideCnt,
          ask_side_total_cnt: s.askSideCnt,
          closing_oddlot_shares: 0,
          fixed_trade_vol: 0,
          suspend: false,
          simtrade,
          intraday_odd: false,
        };
    return JSON.stringify({
      quote_version: QUOTE_VERSION_V1,
      kind: s.futures ? 'fop_tick' : 'stock_tick',
      payload,
    });
  }

  private bidAsk(s: SymbolState): string {
    const bestBid = Math.max(s.tick, s.price - this.int(2) * s.tick);
    const bidPrice: string[] = [];
    const askPrice: string[] = [];
    const bidVolume: number[] = [];
    const askVolume: number[] = [];
    const diffBid: number[] = [];
    const diffAsk: number[] = [];
    for (let level = 0; level < 5; level++) {
      bidPrice.push(dec(Math.max(0, bestBid - level * s.tick)));
      askPrice.push(dec(bestBid + (level + 1) * s.tick));
      bidVolume.push(1 + this.int(500));
      askVolume.push(1 + this.int(500));
      diffBid.push(this.int(41) - 20);
      diffAsk.push(this.int(41) - 20);
    }
    return JSON.stringify({
      quote_version: QUOTE_VERSION_V1,
      kind: 'stock_bidask',
      payload: {
        code: s.code,
        datetime: this.datetime(),
        bid_price: bidPrice,
        bid_volume: bidVolume,
        diff_bid_vol: diffBid,
        ask_price: askPrice,
        ask_volume: askVolume,
        diff_ask_vol: diffAsk,
        suspend: false,
        simtrade: false,
        intraday_odd: false,
      },
    });
  }
}

function limitBps(text: string): number {
  const bps = Number(text);
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new Error(`--limit-bps: 0…10000, got ${text}`);
  return bps;
}

function flag(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

/**
 * Process entrypoint. Without `--port`: the stream on stdout, one `<topic>\t<symbolId>\t<json>` line per
 * quote, for `--seconds` (or `--count` quotes at once). With `--port=N` (0 = a free port): a feed server
 * (feed-server.ts) on `--host` (loopback) that runs until SIGTERM/SIGINT and prints one JSON line
 * `{"event":"feed-sim.listening","host","port","pid"}` on stdout when listening.
 */
async function main(): Promise<void> {
  // `code` or `code@price` (the previous close, a decimal: `2330@580.5`).
  const specs = flag('symbols', '2330,2317,2454,TXFL6').split(',');
  const symbols = specs.map((spec) => spec.split('@')[0] as string);
  const referencePrices: Record<string, number> = {};
  for (const spec of specs) {
    const [code, price] = spec.split('@');
    if (price === undefined) continue;
    const scaled = parseDecimal(price, PLACES);
    if (scaled === null || scaled <= 0) throw new Error(`bad reference price in --symbols: ${spec}`);
    referencePrices[code as string] = scaled;
  }
  const sim = new FeedSimulator({
    referencePrices,
    limitBps: limitBps(flag('limit-bps', '1000')),
    seed: Number(flag('seed', '1')),
    ratePerSec: Number(flag('rate', '1000')),
    burstEveryMs: Number(flag('burst-every', '0')),
    burstSize: Number(flag('burst-size', '0')),
  });
  await sim.subscribe(symbols, ['tick', 'bidask']);
  const port = flag('port', '');
  if (port !== '') {
    await serve(sim, symbols, flag('host', '127.0.0.1'), Number(port));
    return;
  }
  const seconds = Number(flag('seconds', '5'));
  const count = Number(flag('count', '0'));
  const write = (topic: QuoteTopic) => (payload: string | Buffer, symbolId: number) => {
    process.stdout.write(`${topic}\t${symbolId}\t${payload}\n`);
  };
  sim.onTick(write('tick'));
  sim.onBidAsk(write('bidask'));
  if (count > 0) {
    sim.emit(count);
    return;
  }
  sim.start();
  setTimeout(() => sim.stop(), seconds * 1_000);
}

async function serve(sim: FeedSimulator, symbols: string[], host: string, port: number): Promise<void> {
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) throw new Error('feed-sim serves loopback only');
  const log = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  const server = new FeedServer(sim, symbols, { log });
  const bound = await server.listen(host, port);
  sim.start();
  log({ event: 'feed-sim.listening', host, port: bound, pid: process.pid, symbols });
  const shutdown = async () => {
    sim.stop();
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
