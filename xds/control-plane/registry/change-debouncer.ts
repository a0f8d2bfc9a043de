/**
 * Turns a burst of change notifications (one editor save is several file events; one etcd
 * transaction or a few registrations in a row are several watch events) into one call, made
 * `delayMs` after the last of them, with the time the burst began (for push latency).
 */
import { performance } from 'node:perf_hooks';

export interface ChangeDebouncer {
  /** Something changed: (re)starts the wait. */
  changed(): void;
  /** Forgets a pending call. */
  cancel(): void;
}

/** `onSettled(firstChangeAt)`: `firstChangeAt` is the performance.now() of the burst's first change. */
export function changeDebouncer(delayMs: number, onSettled: (firstChangeAt: number) => void): ChangeDebouncer {
  let timer: NodeJS.Timeout | undefined;
  let firstChangeAt = 0;
  return {
    changed() {
      if (timer === undefined) firstChangeAt = performance.now();
      else clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        onSettled(firstChangeAt);
      }, delayMs);
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
