import type { Redis } from 'ioredis';
import type { Keyspace } from '../keys.js';

/** The six metrics of one exposure level (see src/commands/includes/exposure.lua). */
export interface LevelExposure {
  /** Filled net lots (BUY +, SELL −). */
  readonly q: number;
  /** Filled net notional. */
  readonly fn: number;
  readonly rbq: number;
  readonly rb: number;
  readonly rsq: number;
  readonly rs: number;
}

const METRICS = ['q', 'fn', 'rbq', 'rb', 'rsq', 'rs'] as const;
const ZERO: LevelExposure = Object.freeze({ q: 0, fn: 0, rbq: 0, rb: 0, rsq: 0, rs: 0 });

/** Worst-case notional of a level on each side: what the limits are checked against. */
export function worstCase(level: LevelExposure): { buy: number; sell: number } {
  return { buy: level.fn + level.rb, sell: level.rs - level.fn };
}

export interface AccountExposure {
  readonly account: LevelExposure;
  readonly symbols: ReadonlyMap<string, LevelExposure>;
  readonly strategies: ReadonlyMap<string, LevelExposure>;
  /** Keyed `<strategy>|<symbol>`. */
  readonly pairs: ReadonlyMap<string, LevelExposure>;
  readonly trackedSymbols: number;
  readonly idleSymbols: number;
}

/**
 * Read side of the exposure hashes, for operators, tests and reconciliation checks. One HGETALL: fine for
 * an ops call, not for the hot path (the admit script reads what it needs itself).
 */
export class ExposureReader {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
  ) {}

  async read(account: string): Promise<AccountExposure> {
    const [raw, tracked, idle] = await Promise.all([
      this.redis.hgetall(this.keys.exposure(account)),
      this.redis.scard(this.keys.exposureSymbols(account)),
      this.redis.scard(this.keys.exposureIdle(account)),
    ]);
    const levels = new Map<string, Record<string, number>>();
    for (const [field, value] of Object.entries(raw)) {
      const cut = field.lastIndexOf('|');
      const level = field.slice(0, cut);
      const metric = field.slice(cut + 1);
      if (!(METRICS as readonly string[]).includes(metric)) continue;
      const entry = levels.get(level) ?? { ...ZERO };
      entry[metric] = Number(value);
      levels.set(level, entry);
    }
    const symbols = new Map<string, LevelExposure>();
    const strategies = new Map<string, LevelExposure>();
    const pairs = new Map<string, LevelExposure>();
    for (const [level, values] of levels) {
      const v = values as unknown as LevelExposure;
      if (level.startsWith('S|')) symbols.set(level.slice(2), v);
      else if (level.startsWith('T|')) strategies.set(level.slice(2), v);
      else if (level.startsWith('P|')) pairs.set(level.slice(2), v);
    }
    return {
      account: (levels.get('A') as LevelExposure | undefined) ?? ZERO,
      symbols,
      strategies,
      pairs,
      trackedSymbols: tracked,
      idleSymbols: idle,
    };
  }
}
