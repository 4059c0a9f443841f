import type { ExposureConfig } from './config.js';

export interface LevelLimits {
  readonly symbol: number;
  readonly strategy: number;
  readonly account: number;
}

/** Resolves the three notional limits of one intent from the config (override, else default). */
export class ExposureLimits {
  private readonly symbols: ReadonlyMap<string, number>;
  private readonly strategies: ReadonlyMap<string, number>;
  private readonly accounts: ReadonlyMap<string, number>;

  constructor(private readonly config: ExposureConfig) {
    // Maps, not the parsed objects: a name like "constructor" must not hit Object.prototype.
    this.symbols = new Map(Object.entries(config.symbols));
    this.strategies = new Map(Object.entries(config.strategies));
    this.accounts = new Map(Object.entries(config.accounts));
  }

  get maxTrackedSymbols(): number {
    return this.config.maxTrackedSymbols;
  }

  for(account: string, strategy: string, symbol: string): LevelLimits {
    const d = this.config.defaults;
    return {
      symbol: this.symbols.get(symbol) ?? d.symbolNotional,
      strategy: this.strategies.get(strategy) ?? d.strategyNotional,
      account: this.accounts.get(account) ?? d.accountNotional,
    };
  }
}
