import { Registry } from 'prom-client';
import type { Clock } from '../../src/clock.js';
import { isGatewayError } from '../../src/errors.js';
import { type QuotesConfig, type QuotesConfigInput, quotesSection } from '../../src/quotes/config.js';
import type { QuoteCallback, QuoteFeed } from '../../src/quotes/quote-feed.js';
import { QuoteIngress, type TurnScheduler } from '../../src/quotes/quote-ingress.js';
import type { EventRecorder, WalTopic } from '../../src/wal/recorder.js';
import { type LogSink, logSink } from '../wal/wal-fixtures.js';

export { logSink, metricValue } from '../wal/wal-fixtures.js';

export function quotesConfig(overrides: QuotesConfigInput = {}): QuotesConfig {
  return quotesSection.parse(overrides);
}

/** An EventRecorder that keeps what it is given (for suites that are not about the WAL itself). */
export class CollectingRecorder implements EventRecorder {
  readonly records: { topic: WalTopic; payload: unknown }[] = [];
  /** When set, record() throws it (a WAL refusing appends). */
  failWith: Error | null = null;

  record(topic: WalTopic, payload: unknown): number {
    if (this.failWith) throw this.failWith;
    this.records.push({ topic, payload });
    return this.records.length;
  }
}

/** A scheduler that runs worker turns only when the test says so: a stalled worker. */
export class ManualScheduler {
  private pending: (() => void)[] = [];
  scheduled = 0;
  readonly schedule: TurnScheduler = (turn) => {
    this.scheduled++;
    this.pending.push(turn);
  };

  get pendingTurns(): number {
    return this.pending.length;
  }

  /** Runs pending turns (and the turns they schedule) until none are left. */
  runAll(): number {
    let turns = 0;
    while (this.pending.length > 0) {
      const turn = this.pending.shift() as () => void;
      turn();
      turns++;
    }
    return turns;
  }
}

/** A feed the test drives by hand: it hands out the callbacks the ingress registered. */
export class HandFeed implements QuoteFeed {
  tick: QuoteCallback = () => {
    throw new Error('not started');
  };
  bidAsk: QuoteCallback = () => {
    throw new Error('not started');
  };
  subscribed: { symbols: readonly string[]; topics: readonly string[] } | null = null;
  constructor(readonly quoteVersion?: string) {}
  async subscribe(symbols: readonly string[], topics: readonly ('tick' | 'bidask')[]): Promise<void> {
    this.subscribed = { symbols, topics };
  }
  onTick(callback: QuoteCallback): void {
    this.tick = callback;
  }
  onBidAsk(callback: QuoteCallback): void {
    this.bidAsk = callback;
  }
}

export interface Rig {
  readonly ingress: QuoteIngress;
  readonly feed: HandFeed;
  readonly recorder: CollectingRecorder;
  readonly registry: Registry;
  readonly sink: LogSink;
  readonly scheduler: ManualScheduler | null;
}

export async function startRig(
  config: QuotesConfigInput,
  opts: { manual?: boolean; feed?: HandFeed; clock?: Clock } = {},
): Promise<Rig> {
  const feed = opts.feed ?? new HandFeed();
  const recorder = new CollectingRecorder();
  const registry = new Registry();
  const sink = logSink();
  const scheduler = opts.manual ? new ManualScheduler() : null;
  const ingress = new QuoteIngress(quotesConfig(config), {
    feed,
    recorder,
    logger: sink.logger,
    registry,
    ...(scheduler ? { scheduler: scheduler.schedule } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  await ingress.start();
  return { ingress, feed, recorder, registry, sink, scheduler };
}

export const STOCK_TICK_PAYLOAD = Object.freeze({
  code: '2330',
  datetime: '2026-11-24T09:00:01.250000',
  open: '585',
  close: '586.5',
  high: '587',
  low: '584.5',
  avg_price: '585.7731',
  amount: '1759.5',
  total_amount: '123456789.25',
  volume: 3,
  total_volume: 21_077,
  tick_type: 1,
  chg_type: 2,
  price_chg: '1.5',
  pct_chg: '0.26',
  bid_side_total_vol: 9_876,
  ask_side_total_vol: 11_201,
  bid_side_total_cnt: 812,
  ask_side_total_cnt: 907,
  closing_oddlot_shares: 0,
  fixed_trade_vol: 0,
  suspend: false,
  simtrade: false,
  intraday_odd: false,
});

export const STOCK_BIDASK_PAYLOAD = Object.freeze({
  code: '2330',
  datetime: '2026-11-24T09:00:01.250100',
  bid_price: ['586', '585.5', '585', '584.5', '584'],
  bid_volume: [120, 340, 55, 78, 912],
  diff_bid_vol: [3, -2, 0, 0, 15],
  ask_price: ['586.5', '587', '587.5', '588', '588.5'],
  ask_volume: [44, 210, 87, 61, 300],
  diff_ask_vol: [-1, 0, 7, 0, -30],
  suspend: false,
  simtrade: false,
  intraday_odd: false,
});

export const FOP_TICK_PAYLOAD = Object.freeze({
  code: 'TXFL6',
  datetime: '2026-11-24T08:45:00.000500',
  open: '22100',
  underlying_price: '22093.47',
  bid_side_total_vol: 1_500,
  ask_side_total_vol: 1_620,
  avg_price: '22105.3125',
  close: '22111',
  high: '22130',
  low: '22080',
  amount: '44222',
  total_amount: '71638000',
  volume: 2,
  total_volume: 3_240,
  tick_type: 2,
  chg_type: 4,
  price_chg: '-19',
  pct_chg: '-0.09',
  simtrade: false,
});

export function envelope(kind: string, payload: object, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ quote_version: 'v1', kind, payload, ...extra });
}

export const stockTick = (overrides: Record<string, unknown> = {}) =>
  envelope('stock_tick', { ...STOCK_TICK_PAYLOAD, ...overrides });

export function errorCode(f: () => unknown): string {
  try {
    f();
    return 'none';
  } catch (err) {
    return isGatewayError(err) ? err.code : String(err);
  }
}

/** A clock the test moves by hand (monotonic ms; wall ns anchored at a fixed instant). */
export class ManualClock implements Clock {
  constructor(public now = 1_000) {}
  monoMs(): number {
    return this.now;
  }
  wallNs(): bigint {
    return 1_764_000_000_000_000_000n + BigInt(Math.round(this.now * 1e6));
  }
}
