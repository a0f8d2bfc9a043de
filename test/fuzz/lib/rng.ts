/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) for the fuzz targets. Every input is
 * generated from its own stream `Rng.forCase(seed, index)`, so input N of a run can be regenerated
 * alone: `--seed S --replay-index N` reproduces it without replaying the N-1 before it.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  static forCase(seed: number, index: number): Rng {
    return new Rng(seed, index);
  }

  /** A uniformly random unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: `[[3, 'a'], [1, 'b']]` gives 'a' three times as often. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let r = this.float() * total;
    for (const [w, v] of choices) {
      if ((r -= w) < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }

  /** Small numbers often, larger ones rarely: 1, 2, 3 ... up to `max`. */
  smallCount(max: number): number {
    let n = 1;
    while (n < max && this.chance(0.45)) n++;
    return n;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** A seed from a user string ("123", "0x1f", "date", "random"), as a 32-bit unsigned integer. */
export function parseSeed(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback >>> 0;
  if (text === 'date') return dateSeed();
  if (text === 'random') return (Math.random() * 4294967296) >>> 0;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new Error(`not a seed: ${text} (a number, "date" or "random")`);
  return n >>> 0;
}

/** The UTC date as YYYYMMDD: a seed that changes daily and is the same for every run of one day. */
export function dateSeed(now = new Date()): number {
  return now.getUTCFullYear() * 10000 + (now.getUTCMonth() + 1) * 100 + now.getUTCDate();
}
