import { parseSeed } from './rng';

/**
 * The CI fuzz runs' seed: fixed, so that a red CI run is caused by the change under test and
 * reruns the same inputs (CI gates every submission; a fuzz finding unrelated to a change must not
 * block it at random). Exploring new inputs is the long runner's job (`npm run fuzz`, random seed
 * by default). `FUZZ_SEED=<n>|date|random` overrides it, e.g. to reproduce a long-run finding in tap.
 */
export const CI_SEED = 0x6d657368; // "mesh"

export function ciSeed(): number {
  return parseSeed(process.env.FUZZ_SEED, CI_SEED);
}

/** Seconds for a CI fuzz test: FUZZ_SECONDS, or the default. */
export function ciSeconds(defaultSeconds: number): number {
  const n = Number(process.env.FUZZ_SECONDS);
  return Number.isFinite(n) && n > 0 ? n : defaultSeconds;
}
