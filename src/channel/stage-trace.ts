import { appendFileSync } from 'node:fs';

/**
 * Per-stage timestamps of intents along the decision path, for the benchmark (bench/gateway --trace):
 * where the milliseconds between submit and decision go. Off by default: `mark` then costs one branch.
 * Times are wall-clock milliseconds with sub-µs resolution (`performance.timeOrigin + performance.now()`),
 * so marks written by different processes on one machine can be laid side by side.
 */
export const Stage = {
  SUBMIT: 0,
  ENQUEUED: 1,
  READ: 2,
  ADMITTED: 3,
  VENUE_ACK: 4,
  OUTCOME: 5,
  REPLY: 6,
} as const;
export type StageId = (typeof Stage)[keyof typeof Stage];

/** Bounded: at most this many intents are traced per process; later ones are not. */
const MAX_TRACED = 200_000;

let enabled = false;
const marks = new Map<string, number[]>();

/** Turns tracing on for this process (bench entry points only). */
export function enableStageTrace(): void {
  enabled = true;
}

export function markStage(key: string, stage: StageId): void {
  if (!enabled) return;
  let row = marks.get(key);
  if (row === undefined) {
    if (marks.size >= MAX_TRACED) return;
    row = [];
    marks.set(key, row);
  }
  // First mark of a stage wins: a redelivery does not move it.
  if (row[stage] === undefined) row[stage] = performance.timeOrigin + performance.now();
}

/** Appends every traced intent as one JSON line `[key, marks]` to `file`, and forgets them. */
export function dumpStageTrace(file: string): void {
  const lines: string[] = [];
  for (const [key, row] of marks) lines.push(JSON.stringify([key, row]));
  if (lines.length) appendFileSync(file, `${lines.join('\n')}\n`);
  marks.clear();
}
