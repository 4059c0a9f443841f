import { Worker } from 'node:worker_threads';
import type { SimQuote } from '../../src/quotes/feed-sim.js';
import type { NormalizedQuote } from '../../src/quotes/quote-schema-v1.js';
import type { EventRecorder } from '../../src/wal/recorder.js';

/**
 * worker_threads experiment: the main thread batches raw payloads to one worker thread (postMessage),
 * the worker validates and normalizes, the main thread receives the normalized quotes (structured clone)
 * and records them. Measures what matters for the decision: main-thread time per quote (event-loop
 * utilization), against the same measure for in-thread processing.
 */
export async function runOffload(quotes: SimQuote[], count: number, batch: number, recorder: EventRecorder) {
  // A TypeScript worker entry: register tsx inside the worker, then import the entry.
  const entry = new URL('./offload-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true },
  );
  await new Promise((resolve) => worker.once('online', resolve));
  let received = 0;
  let walRefused = 0;
  let inFlight = 0;
  let slotFreed: (() => void) | null = null;
  const done = new Promise<void>((resolve) => {
    worker.on('message', (normalized: (NormalizedQuote | null)[]) => {
      inFlight--;
      slotFreed?.();
      slotFreed = null;
      for (const q of normalized) {
        if (!q) continue;
        try {
          recorder.record(q.kind === 'stock_bidask' ? 'market.bidask' : 'market.tick', q);
        } catch {
          walRefused++;
        }
      }
      received += normalized.length;
      if (received >= count) resolve();
    });
  });
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let sent = 0; sent < count; ) {
    const n = Math.min(batch, count - sent);
    const topics: string[] = [];
    const payloads: string[] = [];
    for (let i = 0; i < n; i++) {
      const q = quotes[(sent + i) % quotes.length] as SimQuote;
      topics.push(q.topic);
      payloads.push(q.payload);
    }
    worker.postMessage({ topics, payloads, firstSeq: sent + 1 });
    inFlight++;
    sent += n;
    // Keep a bounded number of batches in flight; wait (idle, not spinning) for a result to free a slot.
    while (inFlight >= 4) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
      });
    }
  }
  await done;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const wallS = (performance.now() - wall0) / 1_000;
  await worker.terminate();
  return {
    main_us_per_quote: Number(((elu.active * 1_000) / count).toFixed(2)),
    per_sec_wall: Math.round(count / wallS),
    per_core_sec: Math.round(count / ((cpu.user + cpu.system) / 1e6)),
    wal_refused: walRefused,
  };
}
