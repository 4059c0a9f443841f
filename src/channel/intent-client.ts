import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { nowNs } from '../clock.js';
import type { Config } from '../config/schema.js';
import { type Decision, parseDecision } from '../contracts/decision.js';
import { deriveIdempotencyKey } from '../contracts/idempotency.js';
import {
  EnvelopeError,
  INTENT_SCHEMA_VERSION,
  type IntentEnvelope,
  type IntentInput,
  serializeEnvelope,
  validateEnvelope,
} from '../contracts/intent.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { Keyspace } from '../keys.js';
import { CallBatcher } from '../redis/call-batcher.js';
import { asRedisError, connectRedis } from '../redis/connect.js';
import { Scripts } from '../redis/scripts.js';
import { backoffMs, sleep } from './backoff.js';
import { Stage, markStage } from './stage-trace.js';

export interface IntentClientOptions {
  redisUrl: string;
  keyPrefix: string;
  channel: Config['channel'];
  /** Unique per client instance; names its reply stream. Defaults to a random id. */
  clientId?: string;
  commandTimeoutMs?: number;
}

/**
 * Submits made in the same tick, or while this many submit calls are in flight, go to Redis as one
 * script call of up to SUBMIT_BATCH_MAX intents (CallBatcher): less Redis and client CPU per intent.
 */
const SUBMIT_BATCH_MAX = 32;
const SUBMIT_BATCH_IN_FLIGHT = 4;

interface Enqueue {
  readonly key: string;
  readonly payload: string;
}

interface Waiter {
  resolve: (decision: Decision) => void;
}

/**
 * The SDK strategy workers submit intents with. `submit()` resolves with the gateway's decision.
 *
 * - At most `channel.inFlightMax` submits await a decision at once; one more fails at once with
 *   GW_ERR_INFLIGHT_FULL (nothing is queued client-side).
 * - Each attempt waits `attemptTimeoutMs`; a timed-out attempt is retried (same idempotency key, so the
 *   gateway never decides it twice) up to `maxAttempts`, with jittered exponential backoff. When the budget
 *   runs out the submit fails with GW_ERR_SUBMIT_TIMEOUT: the outcome is unknown, and submitting the same
 *   intent again is the safe way to learn it.
 * - A submit whose key already has a stored decision returns it without enqueueing anything.
 */
export class IntentClient {
  readonly clientId: string;
  private readonly keys: Keyspace;
  private readonly streamKey: string;
  private readonly replyKey: string;
  private readonly waiters = new Map<string, Waiter[]>();
  private inFlight = 0;
  private closed = false;
  private readerDone: Promise<void> = Promise.resolve();
  private readonly enqueues = new CallBatcher<Enqueue, unknown>(
    (batch) => this.enqueueMany(batch),
    SUBMIT_BATCH_MAX,
    SUBMIT_BATCH_IN_FLIGHT,
  );

  private constructor(
    private readonly redis: Redis,
    private readonly reader: Redis,
    private readonly scripts: Scripts,
    private readonly opts: IntentClientOptions & { clientId: string },
  ) {
    this.clientId = opts.clientId;
    this.keys = new Keyspace(opts.keyPrefix);
    this.streamKey = this.keys.intentStream(opts.channel.stream);
    this.replyKey = this.keys.replyStream(this.clientId);
  }

  static async connect(options: IntentClientOptions): Promise<IntentClient> {
    const opts = { ...options, clientId: options.clientId ?? randomUUID() };
    const name = `intent-client:${opts.clientId}`;
    const redis = await connectRedis({ url: opts.redisUrl, name, commandTimeoutMs: opts.commandTimeoutMs });
    const reader = await connectRedis({ url: opts.redisUrl, name: `${name}:reply`, blocking: true });
    const scripts = new Scripts();
    scripts.register(redis);
    const client = new IntentClient(redis, reader, scripts, opts);
    client.readerDone = client.readReplies();
    return client;
  }

  /** Completes an intent input into a v1 envelope (version, trace id, timestamp, idempotency key). */
  static envelope(input: IntentInput): IntentEnvelope {
    const fields = { ...input, schema_version: INTENT_SCHEMA_VERSION } as const;
    const envelope = {
      ...fields,
      trace_id: input.trace_id ?? randomUUID(),
      source_ts_ns: input.source_ts_ns ?? nowNs(),
      idempotency_key: deriveIdempotencyKey(fields),
    };
    return validateEnvelope(envelope);
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  /**
   * Submits an intent (an input, completed here, or a full envelope sent as is) and resolves with its
   * decision. Throws GatewayError: GW_ERR_ENVELOPE_INVALID, GW_ERR_INFLIGHT_FULL, GW_ERR_CHANNEL_FULL,
   * GW_ERR_REDIS_UNAVAILABLE (after the retry budget), GW_ERR_SUBMIT_TIMEOUT, GW_ERR_CLIENT_CLOSED.
   */
  async submit(intent: IntentInput | IntentEnvelope): Promise<Decision> {
    if (this.closed) throw new GatewayError('GW_ERR_CLIENT_CLOSED');
    const envelope = this.toEnvelope(intent);
    if (this.inFlight >= this.opts.channel.inFlightMax) {
      throw new GatewayError('GW_ERR_INFLIGHT_FULL', `${this.inFlight} intents awaiting decisions`, {
        in_flight: this.inFlight,
      });
    }
    this.inFlight++;
    try {
      return await this.submitWithRetries(envelope);
    } finally {
      this.inFlight--;
    }
  }

  private toEnvelope(intent: IntentInput | IntentEnvelope): IntentEnvelope {
    try {
      return 'idempotency_key' in intent ? validateEnvelope(intent) : IntentClient.envelope(intent);
    } catch (err) {
      if (err instanceof EnvelopeError) {
        throw new GatewayError('GW_ERR_ENVELOPE_INVALID', err.message, {
          reason: err.reason,
          field: err.field,
        });
      }
      throw err;
    }
  }

  private async submitWithRetries(envelope: IntentEnvelope): Promise<Decision> {
    const key = envelope.idempotency_key;
    markStage(key, Stage.SUBMIT);
    const payload = serializeEnvelope(envelope);
    const { decision: replied, cancel } = this.awaitReply(key);
    const { maxAttempts, attemptTimeoutMs, retryBaseMs, retryMaxMs } = this.opts.channel;
    let lastError: GatewayError | undefined;
    try {
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        if (this.closed) throw new GatewayError('GW_ERR_CLIENT_CLOSED');
        try {
          const stored = await this.enqueue(key, payload);
          markStage(key, Stage.ENQUEUED);
          if (stored) return stored;
          const decision = await raceTimeout(replied, attemptTimeoutMs);
          if (decision) return decided(key, decision);
          lastError = new GatewayError('GW_ERR_SUBMIT_TIMEOUT', `no decision after ${attempt} attempt(s)`, {
            idempotency_key: key,
            attempts: attempt,
          });
        } catch (err) {
          // A dead-letter answer ends this submit: the same reply would answer every further attempt.
          if (!isGatewayError(err) || !err.retryable || err.code === 'GW_ERR_OUTCOME_UNKNOWN') throw err;
          lastError = err;
        }
        if (attempt < maxAttempts) {
          const early = await raceTimeout(replied, backoffMs(attempt, retryBaseMs, retryMaxMs));
          if (early) return decided(key, early);
        }
      }
      throw lastError ?? new GatewayError('GW_ERR_SUBMIT_TIMEOUT');
    } finally {
      cancel();
    }
  }

  /** Runs the submit script: returns the stored decision, or null once the intent is enqueued. */
  private async enqueue(key: string, payload: string): Promise<Decision | null> {
    const result = await this.enqueues.call({ key, payload });
    if (Array.isArray(result) && result[0] === -1) {
      throw new GatewayError('GW_ERR_CHANNEL_FULL', `stream at its cap of ${this.opts.channel.streamMaxLen}`);
    }
    if (Array.isArray(result) && result[0] === 1) return parseDecision(String(result[1]));
    if (Array.isArray(result) && result[0] === 0) return null;
    throw new GatewayError('GW_ERR_SCRIPT_FAILED', `submitIntent answered ${JSON.stringify(result)}`);
  }

  /** One submit script call for a batch; one [code, value] answer per intent, in order. */
  private async enqueueMany(batch: readonly Enqueue[]): Promise<unknown[]> {
    const keys: string[] = [this.streamKey];
    const args: (string | number)[] = [this.opts.channel.streamMaxLen, this.replyKey];
    for (const e of batch) {
      keys.push(this.keys.decision(e.key));
      args.push(e.key, e.payload);
    }
    let reply: unknown;
    try {
      reply = await this.scripts.run(this.redis, 'submitIntent', keys, args);
    } catch (err) {
      throw asRedisError(err);
    }
    if (!Array.isArray(reply) || reply.length !== 2 * batch.length) {
      throw new GatewayError('GW_ERR_SCRIPT_FAILED', `submitIntent answered ${JSON.stringify(reply)}`);
    }
    const answers: unknown[] = [];
    for (let i = 0; i < reply.length; i += 2) answers.push([reply[i], reply[i + 1]]);
    return answers;
  }

  private awaitReply(key: string): { decision: Promise<Decision>; cancel: () => void } {
    let waiter!: Waiter;
    const decision = new Promise<Decision>((resolve) => {
      waiter = { resolve };
    });
    const list = this.waiters.get(key) ?? [];
    list.push(waiter);
    this.waiters.set(key, list);
    const cancel = () => {
      const current = this.waiters.get(key);
      if (!current) return;
      const rest = current.filter((w) => w !== waiter);
      if (rest.length) this.waiters.set(key, rest);
      else this.waiters.delete(key);
    };
    return { decision, cancel };
  }

  /** One blocking reader per client: routes replies to waiting submits by idempotency key. */
  private async readReplies(): Promise<void> {
    let lastId = '0-0';
    while (!this.closed) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = (await this.reader.xread(
          'COUNT',
          512,
          'BLOCK',
          200,
          'STREAMS',
          this.replyKey,
          lastId,
        )) as typeof res;
      } catch {
        if (this.closed) return;
        await sleep(100); // Redis gone: the connection reconnects by itself; submits see their own errors.
        continue;
      }
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          lastId = id;
          this.deliver(fields);
        }
      }
    }
  }

  private deliver(fields: string[]): void {
    let key = '';
    let text = '';
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'k') key = fields[i + 1] ?? '';
      else if (fields[i] === 'd') text = fields[i + 1] ?? '';
    }
    const waiting = this.waiters.get(key);
    if (!waiting) return; // a late reply for a submit that already finished
    markStage(key, Stage.REPLY);
    this.waiters.delete(key);
    const decision = parseDecision(text);
    for (const w of waiting) w.resolve(decision);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.readerDone;
    this.reader.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * A DEAD_LETTERED reply is not a decision: the consumer gave up on the entry after `maxDeliveries`, which
 * also happens while the intent is ADMITTED and its order may exist at the venue (docs/gateway.md, "Known
 * limits"). Answering it as REJECTED would tell a strategy "not sent" about an order that may be live, so
 * it becomes GW_ERR_OUTCOME_UNKNOWN: resubmit the same intent to learn the decision reconciliation stores.
 */
function decided(key: string, decision: Decision): Decision {
  if (decision.status === 'REJECTED' && decision.reason === 'DEAD_LETTERED') {
    throw new GatewayError('GW_ERR_OUTCOME_UNKNOWN', `intent dead-lettered undecided: ${decision.detail}`, {
      idempotency_key: key,
      reason: 'DEAD_LETTERED',
      detail: decision.detail,
    });
  }
  return decision;
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
