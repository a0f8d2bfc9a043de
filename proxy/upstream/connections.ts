import { subscribe } from 'node:diagnostics_channel';

/**
 * Whether an attempt went out on a new connection or a reused keep-alive one.
 *
 * undici publishes `undici:client:connected` when a connection opens and then, in the same
 * synchronous run, writes the request queued for it (which calls the handler's onConnect). So
 * an onConnect that runs while the flag set here is up is on the connection that just opened;
 * any other is on a reused one. The flag drops at the next microtask checkpoint, before any
 * other socket's events. No per-request cost beyond reading a variable.
 */
let opening = false;
function opened(): void {
  opening = false;
}
subscribe('undici:client:connected', () => {
  opening = true;
  queueMicrotask(opened);
});

/** Call from a dispatch handler's onConnect: true when the request is written on a connection that just opened. */
export function onNewConnection(): boolean {
  return opening;
}
