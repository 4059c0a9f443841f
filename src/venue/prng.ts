/**
 * Seeded PRNG (mulberry32) returning unsigned 32-bit integers, so fault injection is reproducible from a
 * seed and decided in integers: `chance(perMille)` is true for `perMille` out of 1 000 draws on average.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  chance(perMille: number): boolean {
    if (perMille <= 0) return false;
    if (perMille >= 1000) return true;
    return this.nextUint32() % 1000 < perMille;
  }
}
