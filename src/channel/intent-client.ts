import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { nowNs } from '../clock.js';
import type { Config } from '../config/schema.js';
import { type Decision, parseDecision } from '../contracts/decision.js';
import {
  EnvelopeError,
  type IntentEnvelope,
  type IntentInput,
  completeEnvelope,
  isCompletedEnvelope,
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

/**
 * One submit waiting for its decision on the reply stream. `wait(deadline)` resolves with the decision, or
 * with null once `deadline` (performance.now() ms) has passed; the client's one timer does that for all
 * waiters, so an attempt costs no timer of its own. Submits of the same key in flight at once are chained
 * (`next`) and all get the decision.
 */
class ReplyWaiter {
  decision: Decision | undefined;
  deadline = Number.POSITIVE_INFINITY;
  next: ReplyWaiter | undefined;
  private settle: ((decision: Decision | null) => void) | undefined;

  get waiting(): boolean {
    return this.settle !== undefined;
  }

  wait(deadline: number): Promise<Decision | null> {
    if (this.decision) return Promise.resolve(this.decision);
    this.deadline = deadline;
    return new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** The first decision delivered is the one kept (a late duplicate reply changes nothing). */
  deliver(decision: Decision): void {
    if (this.decision) return;
    this.decision = decision;
    this.finish(decision);
  }

  finish(decision: Decision | null): void {
    const settle = this.settle;
    this.settle = undefined;
    this.deadline = Number.POSITIVE_INFINITY;
    settle?.(decision);
  }
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
  private readonly waiters = new Map<string, ReplyWaiter>();
  /** The one timer that ends attempts and backoffs: armed for the earliest deadline of any waiter. */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
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

  /**
   * Completes an intent input into a v1 envelope (version, trace id, timestamp, idempotency key). The
   * result is frozen: `submit` sends it without validating it again.
   */
  static envelope(input: IntentInput): IntentEnvelope {
    return completeEnvelope(input, input.trace_id ?? randomUUID(), input.source_ts_ns ?? nowNs());
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
      if (!('idempotency_key' in intent)) return IntentClient.envelope(intent);
      return isCompletedEnvelope(intent) ? intent : validateEnvelope(intent);
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
    const waiter = this.awaitReply(key);
    const { maxAttempts, attemptTimeoutMs, retryBaseMs, retryMaxMs } = this.opts.channel;
    let lastError: GatewayError | undefined;
    try {
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        if (this.closed) throw new GatewayError('GW_ERR_CLIENT_CLOSED');
        try {
          const stored = await this.enqueue(key, payload);
          markStage(key, Stage.ENQUEUED);
          if (stored) return stored;
          const decision = await this.waitFor(waiter, attemptTimeoutMs);
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
          const early = await this.waitFor(waiter, backoffMs(attempt, retryBaseMs, retryMaxMs));
          if (early) return decided(key, early);
        }
      }
      throw lastError ?? new GatewayError('GW_ERR_SUBMIT_TIMEOUT');
    } finally {
      this.release(key, waiter);
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

  private awaitReply(key: string): ReplyWaiter {
    const waiter = new ReplyWaiter();
    waiter.next = this.waiters.get(key);
    this.waiters.set(key, waiter);
    return waiter;
  }

  private release(key: string, waiter: ReplyWaiter): void {
    let head = this.waiters.get(key);
    if (head === waiter) head = waiter.next;
    else for (let w = head; w; w = w.next) if (w.next === waiter) w.next = waiter.next;
    if (head) this.waiters.set(key, head);
    else this.waiters.delete(key);
  }

  /** The waiter's decision, or null after `ms` (the client's one timer ends the wait). */
  private waitFor(waiter: ReplyWaiter, ms: number): Promise<Decision | null> {
    const deadline = performance.now() + ms;
    const wait = waiter.wait(deadline);
    if (waiter.waiting && deadline < this.timerAt) this.arm(deadline);
    return wait;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.expire, Math.max(0, Math.ceil(at - performance.now())));
  }

  /** Ends every wait whose deadline has passed and re-arms the timer for the earliest one left. */
  private readonly expire = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (const head of this.waiters.values()) {
      for (let w: ReplyWaiter | undefined = head; w; w = w.next) {
        if (!w.waiting) continue;
        // Node's timers may fire a little before performance.now() reaches the deadline: re-armed then.
        if (w.deadline <= now) w.finish(null);
        else if (w.deadline < earliest) earliest = w.deadline;
      }
    }
    if (earliest !== Number.POSITIVE_INFINITY) this.arm(earliest);
  };

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
    const decision = parseDecision(text);
    for (let w: ReplyWaiter | undefined = waiting; w; w = w.next) w.deliver(decision);
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
