import type { Redis } from 'ioredis';
import { nowNs } from '../src/clock.js';
import type { Keyspace } from '../src/keys.js';
import type { Logger } from '../src/log.js';
import type { HaStatus, HaTransition } from './ha-controller.js';

/** One gateway's entry on the board (`hft ha status`). */
export interface MemberStatus extends HaStatus {
  /** Where the gateway's ops server listens (admin API for drills); empty when unknown. */
  readonly opsUrl: string;
  readonly leaseNodesUp: number;
  readonly leaseNodes: number;
  readonly updatedTsNs: string;
}

/**
 * The cluster-wide HA board in the state Redis: a hash of member statuses (refreshed every
 * `statusIntervalMs`) and a capped stream of every role transition. Writes are best effort: the board is
 * for operators and reports, never an input to leadership, so a state-Redis outage only makes it stale.
 */
export class StatusBoard {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
    private readonly eventsMaxLen: number,
    private readonly logger?: Logger,
  ) {}

  async publish(status: Omit<MemberStatus, 'updatedTsNs'>): Promise<void> {
    const entry: MemberStatus = { ...status, updatedTsNs: nowNs() };
    await this.redis
      .hset(this.keys.haMembers(), status.processId, JSON.stringify(entry))
      .catch((err: unknown) => this.logger?.debug({ err }, 'ha status publish failed'));
  }

  async recordTransition(t: HaTransition): Promise<void> {
    await this.redis
      .xadd(
        this.keys.haEvents(),
        'MAXLEN',
        '~',
        String(this.eventsMaxLen),
        '*',
        'process_id',
        t.processId,
        'from',
        t.from,
        'to',
        t.to,
        'epoch',
        String(t.epoch),
        'reason',
        t.reason,
        'ts_ns',
        t.tsNs,
      )
      .catch((err: unknown) => this.logger?.debug({ err }, 'ha transition record failed'));
  }

  async members(): Promise<MemberStatus[]> {
    const raw = await this.redis.hgetall(this.keys.haMembers());
    return Object.values(raw)
      .map((json) => JSON.parse(json) as MemberStatus)
      .sort((a, b) => a.processId.localeCompare(b.processId));
  }

  /** Transitions in stream order, optionally after a stream id. */
  async transitions(afterId = '-', count = 10_000): Promise<Array<HaTransition & { id: string }>> {
    const start = afterId === '-' ? '-' : `(${afterId}`;
    const rows = await this.redis.xrange(this.keys.haEvents(), start, '+', 'COUNT', count);
    return rows.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
      return {
        id,
        processId: f.process_id ?? '',
        from: f.from as HaTransition['from'],
        to: f.to as HaTransition['to'],
        epoch: Number(f.epoch),
        reason: f.reason ?? '',
        tsNs: f.ts_ns ?? '0',
      };
    });
  }

  async remove(processId: string): Promise<void> {
    await this.redis.hdel(this.keys.haMembers(), processId).catch(() => undefined);
  }
}
