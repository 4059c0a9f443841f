import type { OverflowPolicy } from './config.js';

/** Topic indexes used on the callback path (a small integer, not a string compare). */
export const TOPIC_TICK = 0;
export const TOPIC_BIDASK = 1;
export const TOPIC_NAMES = ['tick', 'bidask'] as const;

const DROP_OLDEST = 0;
const DROP_NEWEST = 1;
const HALT = 2;
const POLICY_CODE: Record<OverflowPolicy, number> = {
  drop_oldest: DROP_OLDEST,
  drop_newest: DROP_NEWEST,
  halt: HALT,
};

/** One dequeued quote, copied into a holder the worker reuses (no object per quote). */
export interface RawSlot {
  topic: number;
  payload: string | Buffer;
  symbolId: number;
  recvMonoMs: number;
  ingressSeq: number;
}

/**
 * The bounded, preallocated queue between the broker callback and the quote workers. Parallel arrays
 * sized once (a power-of-two capacity, so a slot index is `position & mask`); a push writes five slots
 * and moves an index, it never allocates. The payload array holds the string/Buffer the broker delivered
 * (a reference, not a copy).
 *
 * Full ring, by policy (counted per topic and per symbol id, see docs/quotes.md):
 * - `drop_oldest`: the oldest queued quote is evicted to make room; the newest always gets in.
 * - `drop_newest`: the arriving quote is refused; the queue keeps what it has.
 * - `halt`: the arriving quote is refused and the ring latches halted: every later push is refused too
 *   (counted) until `resume()`. Queued quotes still drain.
 *
 * Single-threaded by construction (Node): `push` runs on the callback, `shift` in worker turns, and they
 * never interleave within a call.
 */
export class QuoteRing {
  readonly capacity: number;
  private readonly mask: number;
  private readonly policy: number;
  private readonly payloads: (string | Buffer | undefined)[];
  private readonly topics: Uint8Array;
  private readonly symbolIds: Int32Array;
  private readonly recvMonoMs: Float64Array;
  private readonly seqs: Float64Array;
  /** Per topic: accepted pushes and dropped quotes (either end, or refused while halted). */
  readonly enqueuedByTopic = new Float64Array(TOPIC_NAMES.length);
  readonly droppedByTopic = new Float64Array(TOPIC_NAMES.length);
  /** Dropped quotes per symbol id; index 0 is "unknown" (the adapter reported no id), id n is index n+1. */
  readonly droppedBySymbol: Float64Array;
  private head = 0;
  private tail = 0;
  private pushes = 0;
  private latched = false;
  private maxDepth = 0;

  constructor(capacity: number, policy: OverflowPolicy, symbolCount: number) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity ${capacity} is not a power of two`);
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.policy = POLICY_CODE[policy];
    this.payloads = new Array<string | Buffer | undefined>(capacity).fill(undefined);
    this.topics = new Uint8Array(capacity);
    this.symbolIds = new Int32Array(capacity);
    this.recvMonoMs = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.droppedBySymbol = new Float64Array(symbolCount + 1);
  }

  /** The callback path. Returns false when the quote was not queued (full under drop_newest/halt). */
  push(topic: number, payload: string | Buffer, symbolId: number, recvMonoMs: number): boolean {
    const seq = ++this.pushes;
    if (this.latched) {
      this.countDrop(topic, symbolId);
      return false;
    }
    if (this.tail - this.head === this.capacity) {
      if (this.policy !== DROP_OLDEST) {
        if (this.policy === HALT) this.latched = true;
        this.countDrop(topic, symbolId);
        return false;
      }
      const oldest = this.head & this.mask;
      this.countDrop(this.topics[oldest] as number, this.symbolIds[oldest] as number);
      this.payloads[oldest] = undefined;
      this.head++;
    }
    const slot = this.tail & this.mask;
    this.payloads[slot] = payload;
    this.topics[slot] = topic;
    this.symbolIds[slot] = symbolId;
    this.recvMonoMs[slot] = recvMonoMs;
    this.seqs[slot] = seq;
    this.tail++;
    (this.enqueuedByTopic[topic] as number)++;
    const depth = this.tail - this.head;
    if (depth > this.maxDepth) this.maxDepth = depth;
    return true;
  }

  /** Worker side: moves the oldest queued quote into `into`. False when empty. */
  shift(into: RawSlot): boolean {
    if (this.head === this.tail) return false;
    const slot = this.head & this.mask;
    into.payload = this.payloads[slot] as string | Buffer;
    into.topic = this.topics[slot] as number;
    into.symbolId = this.symbolIds[slot] as number;
    into.recvMonoMs = this.recvMonoMs[slot] as number;
    into.ingressSeq = this.seqs[slot] as number;
    // Release the reference so a drained payload can be collected even while its slot is idle.
    this.payloads[slot] = undefined;
    this.head++;
    return true;
  }

  get depth(): number {
    return this.tail - this.head;
  }

  /** Deepest the queue has been since the last call (a gauge sampled at scrape time). */
  takeMaxDepth(): number {
    const max = this.maxDepth;
    this.maxDepth = this.depth;
    return max;
  }

  /** True once a push met a full ring under the `halt` policy, until `resume()`. */
  get halted(): boolean {
    return this.latched;
  }

  /** Operator action after a halt: accept pushes again (whatever was refused meanwhile stays lost). */
  resume(): void {
    this.latched = false;
  }

  private countDrop(topic: number, symbolId: number): void {
    (this.droppedByTopic[topic] as number)++;
    const index = symbolId >= 0 && symbolId < this.droppedBySymbol.length - 1 ? symbolId + 1 : 0;
    (this.droppedBySymbol[index] as number)++;
  }
}
