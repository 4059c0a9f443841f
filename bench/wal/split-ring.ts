/** Layout shared by bench/wal/split.ts and split-worker.ts (the WAL thread-split experiment). */

/** Control cells (Int32Array over a SharedArrayBuffer): write position, read position, producer done. */
export const CTL_HEAD = 0;
export const CTL_TAIL = 1;
export const CTL_DONE = 2;
/** A length that marks "continue at offset 0" (the entry did not fit before the ring's end). */
export const RING_WRAP = 0xffffffff;
