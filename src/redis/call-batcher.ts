interface Pending<Req, Res> {
  readonly req: Req;
  readonly resolve: (res: Res) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Merges single calls into batch calls: requests made in the same tick, or while `maxInFlight` batches
 * are already in flight, go out together, up to `maxBatch` per batch, in the order they were made. An idle
 * batcher sends at the end of the current tick, so a lone request waits for nothing but the tick; under
 * load the batches grow by themselves. Used for the gateway's admit and outcome scripts, which decide the
 * requests of one batch one after the other exactly as separate calls in the same order would, so
 * batching changes what a call costs (one script run and one round trip for many), never its answer.
 *
 * A batch that fails as a whole (connection lost, a reply of the wrong shape) rejects every request in
 * it with that error. The queue is bounded by its callers: every request is an intent the consumer holds
 * (at most `channel.readCount` per read) or a bounded reconciliation step.
 */
export class CallBatcher<Req, Res> {
  private queue: Pending<Req, Res>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly runBatch: (reqs: readonly Req[]) => Promise<readonly Res[]>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  call(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.inFlight++;
      this.send(batch);
    }
  };

  private send(batch: Pending<Req, Res>[]): void {
    let sent: Promise<readonly Res[]>;
    try {
      sent = this.runBatch(batch.map((p) => p.req));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent
      .then((results) => {
        if (results.length !== batch.length) {
          throw new Error(`batch of ${batch.length} answered ${results.length} results`);
        }
        for (let i = 0; i < batch.length; i++) (batch[i] as Pending<Req, Res>).resolve(results[i] as Res);
      })
      .catch((err: unknown) => {
        for (const p of batch) p.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        this.flush();
      });
  }
}
