/**
 * Time sources. `monoMs` is the monotonic clock for durations, deadlines and lease safety margins (never
 * the wall clock, which NTP may step). `wallNs` is wall-clock nanoseconds for records: anchored to
 * Date.now() once, then advanced by the monotonic clock, so it never goes backwards within a process.
 */
export interface Clock {
  monoMs(): number;
  wallNs(): bigint;
}

const anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export const systemClock: Clock = Object.freeze({
  monoMs: () => performance.now(),
  wallNs: () => anchorNs + process.hrtime.bigint(),
});

/** Wall-clock nanoseconds as a decimal string, the wire form of every `*_ts_ns` field. */
export function nowNs(clock: Clock = systemClock): string {
  return clock.wallNs().toString();
}
