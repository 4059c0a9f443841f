import type { Redis } from 'ioredis';
import { nowNs } from '../clock.js';
import type { Config } from '../config/schema.js';
import { type Decision, serializeDecision } from '../contracts/decision.js';
import { EnvelopeError, type IntentEnvelope, parseEnvelope } from '../contracts/intent.js';
import { GatewayError } from '../errors.js';
import { Keyspace } from '../keys.js';
import type { Logger } from '../log.js';
import { asRedisError } from '../redis/connect.js';
import type { Scripts } from '../redis/scripts.js';
import { sleep } from './backoff.js';
import type { ChannelMetrics } from './metrics.js';
import { Stage, markStage } from './stage-trace.js';

/**
 * What completing one delivery takes (store the decision, reply, XACK, XDEL): handed to the handler so
 * that it may complete the entry inside its own last script (the gateway's outcome script does, saving a
 * round trip per intent) and set `done`. Left false, the consumer completes the entry itself.
 */
export class Completion {
  /** Set by a handler whose own script stored the decision, replied, acknowledged and deleted the entry. */
  done = false;

  constructor(
    readonly streamKey: string,
    readonly group: string,
    readonly entryId: string,
    readonly replyTo: string,
    readonly replyMaxLen: number,
    readonly replyTtlMs: number,
  ) {}
}

/** One delivered, valid stream entry. */
export interface Delivery {
  readonly id: string;
  readonly idempotencyKey: string;
  readonly replyTo: string;
  readonly envelope: IntentEnvelope;
  readonly completion: Completion;
}

/**
 * Decides one valid intent. Returning a decision completes the entry (stored, replied, acknowledged),
 * unless the handler completed it itself (`delivery.completion.done`). Throwing leaves the entry pending:
 * it is retried after `claimIdleMs` and dead-lettered after `maxDeliveries`. A handler should answer
 * everything it can with a REJECTED decision and throw only for failures where a retry may succeed.
 */
export type IntentHandler = (delivery: Delivery) => Promise<Decision>;

export interface IntentConsumerOptions {
  redis: Redis;
  /** A separate connection for XREADGROUP BLOCK (see connectRedis({ blocking: true })). */
  blockingRedis: Redis;
  scripts: Scripts;
  keyPrefix: string;
  channel: Config['channel'];
  consumerName: string;
  gatewayId: string;
  handler: IntentHandler;
  logger: Logger;
  metrics: ChannelMetrics;
  /**
   * Answer an entry whose key already has a stored decision without calling the handler (default true).
   * A handler that does its own atomic dedup (the gateway's admit script) turns it off: one Redis round
   * trip less per intent.
   */
  precheckStored?: boolean;
}

type StreamEntry = [id: string, fields: string[]];

/**
 * The gateway side of the channel: reads its consumer group, hands each entry to the handler, completes
 * it, and claims entries that dead consumers left pending. Malformed envelopes are answered with a typed
 * REJECTED decision (not stored under the key they claim) and never reach the handler.
 */
export class IntentConsumer {
  private readonly keys: Keyspace;
  private readonly streamKey: string;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: IntentConsumerOptions) {
    this.keys = new Keyspace(opts.keyPrefix);
    this.streamKey = this.keys.intentStream(opts.channel.stream);
  }

  async ensureGroup(): Promise<void> {
    try {
      // '0': a group created after intents were queued still sees them.
      await this.opts.redis.xgroup('CREATE', this.streamKey, this.opts.channel.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw asRedisError(err);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.readLoop(), this.claimLoop()];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * Reads this consumer's own pending entries first (left by a previous life), then new ones. A batch is
   * decided before the next read: reading on while a batch is at the venue was tried and kept the gateway
   * saturated, which the StormGuard then reads as a slow broker (docs/gateway.md, Measured).
   */
  private async readLoop(): Promise<void> {
    let cursor = '0';
    while (this.running) {
      try {
        const entries = await this.read(cursor);
        if (cursor !== '>' && entries.length === 0) cursor = '>';
        else if (cursor !== '>') cursor = (entries[entries.length - 1] as StreamEntry)[0];
        await this.processBatch(entries);
      } catch (err) {
        await this.onLoopError(err, 'read');
      }
    }
  }

  private async read(cursor: string): Promise<StreamEntry[]> {
    const { group, readCount, blockMs } = this.opts.channel;
    const res = (await this.opts.blockingRedis.call(
      'XREADGROUP',
      'GROUP',
      group,
      this.opts.consumerName,
      'COUNT',
      readCount,
      ...(cursor === '>' ? ['BLOCK', blockMs] : []),
      'STREAMS',
      this.streamKey,
      cursor,
    )) as [string, StreamEntry[]][] | null;
    return res?.[0]?.[1] ?? [];
  }

  private async claimLoop(): Promise<void> {
    while (this.running) {
      await sleep(this.opts.channel.claimIntervalMs);
      if (!this.running) return;
      try {
        await this.processBatch(await this.claimStale());
      } catch (err) {
        await this.onLoopError(err, 'claim');
      }
    }
  }

  /** Claims stale pending entries; dead-letters the ones delivered too often and tells their submitters. */
  async claimStale(): Promise<StreamEntry[]> {
    const { group, claimIdleMs, readCount, maxDeliveries, deadLetterMaxLen, stream } = this.opts.channel;
    const res = (await this.opts.scripts.run(
      this.opts.redis,
      'reclaimStale',
      [this.streamKey, this.keys.deadLetterStream(stream), this.keys.deliveryErrors(stream)],
      [group, this.opts.consumerName, claimIdleMs, readCount, maxDeliveries, deadLetterMaxLen, nowNs()],
    )) as [unknown[], string[], number];
    const [flatClaimed, dead, dlqFull] = res;
    const claimed: StreamEntry[] = [];
    for (let i = 0; i < flatClaimed.length; i += 2) {
      claimed.push([flatClaimed[i] as string, flatClaimed[i + 1] as string[]]);
    }
    if (claimed.length) this.opts.metrics.claimed.inc(claimed.length);
    if (dlqFull > 0) {
      this.opts.metrics.deadLetterFull.inc(dlqFull);
      this.opts.logger.error(
        { entries: dlqFull },
        'dead-letter stream at its cap; poisoned entries stay pending',
      );
    }
    for (let i = 0; i < dead.length; i += 4) {
      const [id, key, replyTo, reason] = dead.slice(i, i + 4) as [string, string, string, string];
      this.opts.metrics.deadLettered.inc();
      this.opts.logger.error({ entry_id: id, idempotency_key: key, reason }, 'intent dead-lettered');
      await this.replyOnly(id, key, replyTo, this.rejection(key, '', 'DEAD_LETTERED', reason), false);
    }
    return claimed;
  }

  private async processBatch(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await Promise.all(entries.map((entry) => this.processEntry(entry)));
  }

  private async processEntry([id, fields]: StreamEntry): Promise<void> {
    const key = field(fields, 'k');
    markStage(key, Stage.READ);
    const replyTo = field(fields, 'r');
    let envelope: IntentEnvelope;
    try {
      envelope = parseEnvelope(field(fields, 'e'));
      if (envelope.idempotency_key !== key) {
        throw new EnvelopeError(
          'ENVELOPE_KEY_MISMATCH',
          'idempotency_key',
          'entry key and envelope key differ',
        );
      }
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      this.opts.metrics.invalid.inc({ reason: err.reason });
      this.opts.logger.warn(
        { entry_id: id, reason: err.reason, field: err.field },
        'invalid intent envelope',
      );
      await this.replyOnly(id, key, replyTo, this.rejection(key, '', err.reason, err.message), true);
      return;
    }
    try {
      // Best-effort short-circuit for a retried submit whose twin was already decided. Not atomic with
      // the handler: the gateway's admit script is the real dedup guard, so handlers must stay idempotent.
      if (this.opts.precheckStored ?? true) {
        const stored = await this.opts.redis.get(this.keys.decision(key));
        if (stored !== null) {
          this.opts.metrics.storedReplies.inc();
          await this.complete(id, key, replyTo, JSON.parse(stored) as Decision);
          return;
        }
      }
      const { group, replyMaxLen, replyTtlMs } = this.opts.channel;
      const completion = new Completion(this.streamKey, group, id, replyTo, replyMaxLen, replyTtlMs);
      const decision = await this.opts.handler({ id, idempotencyKey: key, replyTo, envelope, completion });
      if (completion.done) this.opts.metrics.completed.inc();
      else await this.complete(id, key, replyTo, decision);
    } catch (err) {
      this.opts.metrics.handlerErrors.inc();
      this.opts.logger.error(
        { err, entry_id: id, trace_id: envelope.trace_id, idempotency_key: key },
        'intent handler failed; entry stays pending for retry',
      );
      await this.opts.redis
        .hset(this.keys.deliveryErrors(this.opts.channel.stream), id, String(err).slice(0, 500))
        .catch(() => {});
    }
  }

  private rejection(key: string, intentId: string, reason: Decision['reason'], detail: string): Decision {
    return {
      schema_version: 1,
      idempotency_key: key,
      intent_id: intentId,
      status: 'REJECTED',
      reason,
      detail,
      epoch: 0,
      client_order_id: null,
      gateway_id: this.opts.gatewayId,
      source_ts_ns: '0',
      decided_ts_ns: nowNs(),
    };
  }

  /** Stores (first decision wins), replies, acknowledges. Returns the decision in force. */
  async complete(id: string, key: string, replyTo: string, decision: Decision): Promise<Decision> {
    return this.finish(id, this.keys.decision(key), key, replyTo, decision);
  }

  private async replyOnly(
    id: string,
    key: string,
    replyTo: string,
    decision: Decision,
    ack: boolean,
  ): Promise<void> {
    if (ack) await this.finish(id, '', key, replyTo, decision);
    else if (replyTo) await this.finish('0-0', '', key, replyTo, decision);
  }

  private async finish(id: string, decisionKey: string, key: string, replyTo: string, decision: Decision) {
    const { group, decisionTtlMs, replyMaxLen, replyTtlMs } = this.opts.channel;
    const text = serializeDecision(decision);
    const [, inForce] = (await this.opts.scripts.run(
      this.opts.redis,
      'completeIntent',
      [this.streamKey, decisionKey, replyTo],
      [group, id, text, decisionTtlMs, replyMaxLen, replyTtlMs, key],
    )) as [number, string];
    this.opts.metrics.completed.inc();
    return inForce === text ? decision : (JSON.parse(inForce) as Decision);
  }

  private async onLoopError(err: unknown, loop: string): Promise<void> {
    if (!this.running) return;
    const mapped = asRedisError(err);
    if (String(mapped).includes('NOGROUP')) {
      this.opts.logger.warn({ loop }, 'consumer group missing (Redis lost its data?); recreating');
      await this.ensureGroup().catch(() => {});
    } else {
      this.opts.metrics.loopErrors.inc({ loop });
      this.opts.logger.warn(
        { loop, err: mapped instanceof GatewayError ? mapped.message : String(mapped) },
        'channel loop error; retrying',
      );
    }
    await sleep(100);
  }
}

function field(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1] ?? '';
  return '';
}
