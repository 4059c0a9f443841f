import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SegmentState, SegmentStateStore } from '../../loaders/segment-state-store.js';
import { isGatewayError } from '../../src/errors.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts } from '../../src/redis/scripts.js';
import { RedisServer } from '../harness/redis-server.js';

const manifest = { recordCount: 10, bytes: 1_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('segment manifest state machine (Lua CAS on real Redis)', () => {
  let server: RedisServer;
  let redis: Redis;
  let store: SegmentStateStore;
  let keys: Keyspace;
  let n = 0;
  let id: string;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = await connectRedis({ url: server.url, name: 'segment-state-test' });
    const scripts = new Scripts();
    scripts.register(redis);
    keys = new Keyspace('{seg}');
    store = new SegmentStateStore(redis, scripts, keys);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(() => {
    n += 1;
    id = `gw-1.gateway.decision.${String(n).padStart(16, '0')}`;
  });

  it('walks SEALED → CLAIMED → LOADING → LOADED → ARCHIVED and counts the load cluster-wide', async () => {
    const before = await store.stats();
    expect(await store.claim(id, 'l1', 't1', 5_000, manifest)).toEqual({
      kind: 'claimed',
      previous: SegmentState.SEALED,
      claims: 1,
      dirty: false,
    });
    await store.advance(id, {
      token: 't1',
      from: SegmentState.CLAIMED,
      to: SegmentState.LOADING,
      leaseOrRetentionMs: 5_000,
    });
    await store.advance(id, {
      token: 't1',
      from: SegmentState.LOADING,
      to: SegmentState.LOADED,
      rows: 10,
      bytes: 1_000,
    });
    expect(await store.archive(id, 60_000)).toBe(true);
    expect(await store.archive(id, 60_000)).toBe(false);
    const state = await store.describe(id);
    expect(state).toMatchObject({ state: 'ARCHIVED', loaded_rows: '10', dirty: '1' });
    expect(state.token).toBeUndefined();
    expect(await redis.pttl(keys.segmentState(id))).toBeGreaterThan(0);
    const after = await store.stats();
    expect(after.loadedRows - before.loadedRows).toBe(10);
    expect(after.loadedSegments - before.loadedSegments).toBe(1);
  });

  it('lets exactly one of many concurrent claimers win a sealed segment', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.claim(id, `l${i}`, `t${i}`, 5_000, manifest)),
    );
    expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'busy')).toHaveLength(19);
  });

  it('hands an expired claim to another loader, marked dirty when it had reached LOADING', async () => {
    await store.claim(id, 'dead', 'td', 300, manifest);
    await store.advance(id, {
      token: 'td',
      from: SegmentState.CLAIMED,
      to: SegmentState.LOADING,
      leaseOrRetentionMs: 300,
    });
    const busy = await store.claim(id, 'l2', 't2', 5_000, manifest);
    expect(busy.kind).toBe('busy');
    await sleep(350);
    expect(await store.claim(id, 'l2', 't2', 5_000, manifest)).toEqual({
      kind: 'claimed',
      previous: SegmentState.LOADING,
      claims: 2,
      dirty: true,
    });
  });

  it('fences a zombie: after a takeover its renew fails and its transitions are refused', async () => {
    await store.claim(id, 'zombie', 'tz', 200, manifest);
    await sleep(250);
    await store.claim(id, 'l2', 't2', 5_000, manifest);
    expect(await store.renew({ segmentId: id, token: 'tz' }, 5_000)).toBe(false);
    const attempt = store.advance(id, {
      token: 'tz',
      from: SegmentState.CLAIMED,
      to: SegmentState.LOADED,
      rows: 10,
    });
    await expect(attempt).rejects.toSatisfy((err) => isGatewayError(err, 'GW_ERR_SEGMENT_CLAIM_LOST'));
    expect(await store.renew({ segmentId: id, token: 't2' }, 5_000)).toBe(true);
    expect((await store.describe(id)).worker).toBe('l2');
  });

  it('answers already-loaded to a second run of a finished segment (a BullMQ redelivery is harmless)', async () => {
    await store.claim(id, 'l1', 't1', 5_000, manifest);
    await store.advance(id, {
      token: 't1',
      from: SegmentState.CLAIMED,
      to: SegmentState.LOADED,
      rows: 10,
      bytes: 1,
    });
    expect(await store.claim(id, 'l2', 't2', 5_000, manifest)).toEqual({
      kind: 'already-loaded',
      state: 'LOADED',
    });
  });

  it('keeps a QUARANTINED segment out of every claim until an operator replays it', async () => {
    await store.claim(id, 'l1', 't1', 5_000, manifest);
    await store.advance(id, {
      token: 't1',
      from: SegmentState.CLAIMED,
      to: SegmentState.QUARANTINED,
      reason: 'checksum',
    });
    expect(await store.claim(id, 'l2', 't2', 5_000, manifest)).toEqual({ kind: 'quarantined' });
    expect(await store.replay(id, 'force')).toBe(SegmentState.QUARANTINED);
    expect(await store.claim(id, 'l2', 't3', 5_000, manifest)).toMatchObject({
      kind: 'claimed',
      dirty: false,
      claims: 1,
    });
  });

  it('replay refuses a segment under a live claim', async () => {
    await store.claim(id, 'l1', 't1', 5_000, manifest);
    expect(await store.replay(id, 'check')).toBeNull();
  });

  it('releases a failed attempt back to SEALED, keeping it dirty so the retry checks what landed', async () => {
    await store.claim(id, 'l1', 't1', 5_000, manifest);
    await store.advance(id, {
      token: 't1',
      from: SegmentState.CLAIMED,
      to: SegmentState.LOADING,
      leaseOrRetentionMs: 5_000,
    });
    await store.advance(id, {
      token: 't1',
      from: SegmentState.LOADING,
      to: SegmentState.SEALED,
      reason: 'ch down',
    });
    expect(await store.claim(id, 'l1', 't2', 5_000, manifest)).toMatchObject({
      kind: 'claimed',
      dirty: true,
    });
  });

  it('rejects a transition outside the state machine', async () => {
    await store.claim(id, 'l1', 't1', 5_000, manifest);
    const bad = store.advance(id, { token: 't1', from: SegmentState.CLAIMED, to: SegmentState.ARCHIVED });
    await expect(bad).rejects.toSatisfy((err) => isGatewayError(err, 'GW_ERR_SCRIPT_FAILED'));
  });
});
