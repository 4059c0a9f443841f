import type { Redis } from 'ioredis';
import { GatewayError } from '../errors.js';
import type { Keyspace } from '../keys.js';
import type { Scripts } from './scripts.js';

/**
 * Layouts of the persistent structures in the state Redis that this release reads and writes. A
 * component's number goes up when a release writes it in a form an older release cannot read (the
 * journal's packed field `i` is layout 2; layout 1 is the one field per value form, still read).
 */
export const STATE_LAYOUTS = Object.freeze({ journal: 2 });
export type LayoutComponent = keyof typeof STATE_LAYOUTS;

/**
 * The layout guard (`{hft}:layout`, src/commands/claimLayout-1.lua). `check` at start-up: a release
 * older than the data refuses to start. `claim` before the first write (activation): records this
 * release's layouts, so from then on any older release with this guard refuses. Releases from before
 * the guard do not look at it; runbooks/upgrade.md says how to upgrade and roll back around them.
 */
export class StateLayoutGuard {
  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    private readonly keys: Keyspace,
  ) {}

  check(): Promise<void> {
    return this.each(false);
  }

  claim(): Promise<void> {
    return this.each(true);
  }

  private async each(claim: boolean): Promise<void> {
    for (const [component, mine] of Object.entries(STATE_LAYOUTS)) {
      const stored = Number(
        await this.scripts.run(
          this.redis,
          'claimLayout',
          [this.keys.layout()],
          [component, mine, claim ? 1 : 0],
        ),
      );
      if (stored > mine) {
        throw new GatewayError(
          'GW_ERR_STATE_LAYOUT_TOO_NEW',
          `the state Redis holds ${component} layout ${stored}; this release reads up to ${mine}: run the newer release (runbooks/upgrade.md)`,
          { component, stored, mine },
        );
      }
    }
  }
}
