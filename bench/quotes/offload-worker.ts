/**
 * worker_threads experiment (bench only): validates and normalizes batches of raw quotes off the main
 * thread and posts the normalized quotes back. See bench/quotes/offload.ts.
 */
import { parentPort } from 'node:worker_threads';
import { QuoteValidator } from '../../src/quotes/quote-validator.js';

const validator = new QuoteValidator({
  maxPayloadBytes: 8_192,
  acceptVersions: [],
  acceptUnknownFields: false,
});

parentPort?.on(
  'message',
  (batch: { topics: ('tick' | 'bidask')[]; payloads: string[]; firstSeq: number }) => {
    const out: unknown[] = [];
    for (let i = 0; i < batch.payloads.length; i++) {
      const v = validator.validate(
        batch.payloads[i] as string,
        batch.topics[i] as 'tick' | 'bidask',
        '0',
        batch.firstSeq + i,
      );
      out.push(v.ok ? v.quote : null);
    }
    parentPort?.postMessage(out);
  },
);
