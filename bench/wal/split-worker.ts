/**
 * Worker side of the WAL thread-split experiment (bench only, see bench/wal/split.ts): reads JSON texts
 * from the shared ring, encodes WAL lines (LineEncoder: escaping, digits, CRC), hashes them (sha256) and
 * writes them in 1 MiB pieces with fdatasync at most every 50 ms (the `interval` policy), then reports.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../src/clock.js';
import { LineEncoder } from '../../src/wal/line-encoder.js';
import { RecordClock } from '../../src/wal/record-clock.js';
import { WAL_TOPICS } from '../../src/wal/recorder.js';
import { CTL_DONE, CTL_HEAD, CTL_TAIL, RING_WRAP } from './split-ring.js';

const { ring, control, file } = workerData as {
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
  file: string;
};
const bytes = Buffer.from(ring);
const view = new DataView(ring);
const ctl = new Int32Array(control);
const encoder = new LineEncoder('gw-bench', WAL_TOPICS);
const clock = new RecordClock(systemClock);
const hash = createHash('sha256');
const fd = openSync(file, 'wx');
const CHUNK = 1 << 20;
const chunk = Buffer.allocUnsafeSlow(CHUNK + 64 * 1024);
let used = 0;
let seq = 0;
let written = 0;
let lastSync = performance.now();

function writeOut(): void {
  hash.update(chunk.subarray(0, used));
  let off = 0;
  while (off < used) off += writeSync(fd, chunk, off, used - off);
  written += used;
  used = 0;
  const now = performance.now();
  if (now - lastSync >= 50) {
    fdatasyncSync(fd);
    lastSync = now;
  }
}

let tail = 0;
for (;;) {
  const head = Atomics.load(ctl, CTL_HEAD);
  if (head === tail) {
    if (Atomics.load(ctl, CTL_DONE) === 1 && Atomics.load(ctl, CTL_HEAD) === tail) break;
    Atomics.wait(ctl, CTL_HEAD, head, 5);
    continue;
  }
  while (tail !== head) {
    const len = view.getUint32(tail, true);
    if (len === RING_WRAP) {
      tail = 0;
      continue;
    }
    const topic = view.getUint32(tail + 4, true);
    const json = bytes.toString('utf8', tail + 8, tail + 8 + len);
    clock.sample();
    used += encoder.write(chunk, used, ++seq, clock.sec, clock.nsec, topic, json);
    if (used >= CHUNK) writeOut();
    tail += 8 + ((len + 3) & ~3);
  }
  Atomics.store(ctl, CTL_TAIL, tail);
}
if (used > 0) writeOut();
fdatasyncSync(fd);
closeSync(fd);
parentPort?.postMessage({ records: seq, bytes: written, sha256: hash.digest('hex') });
