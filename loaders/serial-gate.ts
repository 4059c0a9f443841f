/**
 * Runs async tasks one at a time, in the order they were handed in. A task's failure is its caller's
 * alone: the next task still runs. Waiting tasks are bounded by whoever calls (the loader's job
 * concurrency), so there is no queue of its own to overflow.
 */
export class SerialGate {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
