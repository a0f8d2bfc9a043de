/** How stream restarts back off: grpc-js's constants (×1.6, ±20% jitter), from 500 ms up to 30 s. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };
const MULTIPLIER = 1.6;
const JITTER = 0.2;

/**
 * Jittered exponential backoff between attempts, counted from the start of the previous
 * attempt (grpc-js's BackoffTimeout idea: a stream that failed after a while is retried
 * sooner than one that failed at once). grpc-js's own class is not used: its reset() while
 * running waits longer than the reset delay (its start and end times are one Date object).
 */
export class Backoff {
  private delayMs: number;

  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {
    this.delayMs = policy.initialMs;
  }

  /** How long to wait before the next attempt, the last one having started `elapsedMs` ago; the delay after it grows. */
  wait(elapsedMs: number): number {
    const delay = this.delayMs;
    const grown = Math.min(delay * MULTIPLIER, this.policy.maxMs);
    this.delayMs = Math.min(grown * (1 + JITTER * (2 * this.random() - 1)), this.policy.maxMs);
    return Math.max(0, delay - elapsedMs);
  }

  /** After a healthy attempt: back to the initial delay. */
  reset(): void {
    this.delayMs = this.policy.initialMs;
  }
}
