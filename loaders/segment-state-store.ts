import type { Redis } from 'ioredis';
import { GatewayError } from '../src/errors.js';
import type { Keyspace } from '../src/keys.js';
import { asRedisError } from '../src/redis/connect.js';
import type { Scripts } from '../src/redis/scripts.js';

/** The manifest state machine of one sealed segment (docs/replay.md). Redis holds it; BullMQ does not. */
export enum SegmentState {
  SEALED = 'SEALED',
  CLAIMED = 'CLAIMED',
  LOADING = 'LOADING',
  LOADED = 'LOADED',
  ARCHIVED = 'ARCHIVED',
  QUARANTINED = 'QUARANTINED',
}

/** Status codes the segment* Lua scripts return (first element of their reply). */
export enum SegmentCode {
  OK = 0,
  ALREADY_LOADED = -1,
  QUARANTINED = -2,
  CLAIMED_BY_OTHER = -3,
  CLAIM_LOST = -4,
  WRONG_STATE = -5,
  BAD_TRANSITION = -6,
}

/** A segment whose state no loader needs to touch again. */
export const FINISHED_STATES: ReadonlySet<string> = new Set([
  SegmentState.ARCHIVED,
  SegmentState.QUARANTINED,
]);
/** States that count as backlog: not yet durably in ClickHouse. */
export const UNLOADED_STATES: ReadonlySet<string> = new Set([
  SegmentState.SEALED,
  SegmentState.CLAIMED,
  SegmentState.LOADING,
]);

export type ClaimResult =
  | {
      readonly kind: 'claimed';
      readonly previous: SegmentState;
      readonly claims: number;
      readonly dirty: boolean;
    }
  | { readonly kind: 'already-loaded'; readonly state: SegmentState }
  | { readonly kind: 'quarantined' }
  | { readonly kind: 'busy'; readonly state: SegmentState; readonly leaseLeftMs: number };

export interface Claim {
  readonly segmentId: string;
  readonly token: string;
}

type Reply = [number, string, ...(string | number)[]];

/** Typed access to the segment* Lua scripts. Every transition is one compare-and-set in Redis. */
export class SegmentStateStore {
  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    private readonly keys: Keyspace,
  ) {}

  async claim(
    segmentId: string,
    loaderId: string,
    token: string,
    leaseMs: number,
    manifest: { recordCount: number; bytes: number },
  ): Promise<ClaimResult> {
    const [code, state, claims, last] = await this.run(
      'segmentClaim',
      [this.keys.segmentState(segmentId)],
      [loaderId, token, leaseMs, manifest.recordCount, manifest.bytes],
    );
    switch (code) {
      case SegmentCode.OK:
        return {
          kind: 'claimed',
          previous: state as SegmentState,
          claims: Number(claims),
          dirty: last === 1,
        };
      case SegmentCode.ALREADY_LOADED:
        return { kind: 'already-loaded', state: state as SegmentState };
      case SegmentCode.QUARANTINED:
        return { kind: 'quarantined' };
      case SegmentCode.CLAIMED_BY_OTHER:
        return { kind: 'busy', state: state as SegmentState, leaseLeftMs: Number(last) };
      default:
        throw unexpected('segmentClaim', code, state);
    }
  }

  /** Renews the lease; false when the claim is no longer this token's. */
  async renew(claim: Claim, leaseMs: number): Promise<boolean> {
    const [code, state] = await this.run(
      'segmentRenew',
      [this.keys.segmentState(claim.segmentId)],
      [claim.token, leaseMs],
    );
    if (code === SegmentCode.OK) return true;
    if (code === SegmentCode.CLAIM_LOST) return false;
    throw unexpected('segmentRenew', code, state);
  }

  /**
   * One CAS transition. Throws GW_ERR_SEGMENT_CLAIM_LOST when the claim was taken over (the caller stops
   * at once) and GW_ERR_SCRIPT_FAILED for anything else unexpected.
   */
  async advance(
    segmentId: string,
    transition: {
      token: string;
      from: SegmentState;
      to: SegmentState;
      leaseOrRetentionMs?: number;
      rows?: number;
      bytes?: number;
      reason?: string;
    },
  ): Promise<void> {
    const [code, state] = await this.run(
      'segmentAdvance',
      [this.keys.segmentState(segmentId), this.keys.segmentStats()],
      [
        transition.token,
        transition.from,
        transition.to,
        transition.leaseOrRetentionMs ?? 0,
        transition.rows ?? 0,
        transition.bytes ?? 0,
        transition.reason ?? '',
      ],
    );
    if (code === SegmentCode.OK) return;
    if (code === SegmentCode.CLAIM_LOST) {
      throw new GatewayError('GW_ERR_SEGMENT_CLAIM_LOST', `${segmentId} is ${state}`, {
        segmentId,
        state,
        wanted: transition.to,
      });
    }
    throw unexpected('segmentAdvance', code, state);
  }

  /** LOADED → ARCHIVED once retention ran; false when another run archived it first. */
  async archive(segmentId: string, stateRetentionMs: number): Promise<boolean> {
    const [code, state] = await this.run(
      'segmentAdvance',
      [this.keys.segmentState(segmentId), this.keys.segmentStats()],
      ['', SegmentState.LOADED, SegmentState.ARCHIVED, stateRetentionMs, 0, 0, ''],
    );
    if (code === SegmentCode.OK) return true;
    if (code === SegmentCode.WRONG_STATE && state === SegmentState.ARCHIVED) return false;
    throw unexpected('segmentAdvance', code, state);
  }

  /** Operator replay: back to SEALED. Returns the previous state, or null when a live claim blocks it. */
  async replay(segmentId: string, mode: 'check' | 'force'): Promise<SegmentState | null> {
    const [code, state] = await this.run('segmentReplay', [this.keys.segmentState(segmentId)], [mode]);
    if (code === SegmentCode.OK) return state as SegmentState;
    if (code === SegmentCode.CLAIMED_BY_OTHER) return null;
    throw unexpected('segmentReplay', code, state);
  }

  /** Current states of many segments (missing hash → SEALED), in one round trip per 1,000. */
  async states(segmentIds: readonly string[]): Promise<SegmentState[]> {
    const out: SegmentState[] = [];
    for (let i = 0; i < segmentIds.length; i += 1_000) {
      const pipeline = this.redis.pipeline();
      for (const id of segmentIds.slice(i, i + 1_000)) pipeline.hget(this.keys.segmentState(id), 'state');
      const replies = await pipeline.exec().catch((err) => Promise.reject(asRedisError(err)));
      for (const [err, value] of replies ?? []) {
        if (err) throw asRedisError(err);
        out.push((value as string | null as SegmentState | null) ?? SegmentState.SEALED);
      }
    }
    return out;
  }

  async describe(segmentId: string): Promise<Record<string, string>> {
    try {
      return await this.redis.hgetall(this.keys.segmentState(segmentId));
    } catch (err) {
      throw asRedisError(err);
    }
  }

  /** Cluster-wide counters kept by segmentAdvance. */
  async stats(): Promise<{
    loadedRows: number;
    loadedBytes: number;
    loadedSegments: number;
    quarantined: number;
  }> {
    let raw: Record<string, string>;
    try {
      raw = await this.redis.hgetall(this.keys.segmentStats());
    } catch (err) {
      throw asRedisError(err);
    }
    return {
      loadedRows: Number(raw.loaded_rows ?? 0),
      loadedBytes: Number(raw.loaded_bytes ?? 0),
      loadedSegments: Number(raw.loaded_segments ?? 0),
      quarantined: Number(raw.quarantined_segments ?? 0),
    };
  }

  private async run(name: string, keys: string[], args: (string | number)[]): Promise<Reply> {
    try {
      return (await this.scripts.run(this.redis, name, keys, args)) as Reply;
    } catch (err) {
      throw asRedisError(err);
    }
  }
}

function unexpected(script: string, code: number, state: unknown): GatewayError {
  return new GatewayError('GW_ERR_SCRIPT_FAILED', `${script} answered ${code} (${String(state)})`, {
    script,
    code,
  });
}
