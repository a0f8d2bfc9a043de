import { subscribe } from 'node:diagnostics_channel';
import type { Client as ClientType, Dispatcher } from 'undici';
import type { UpstreamHost } from '../cluster/upstream-host';

// Only the client, as upstream-host.ts loads only the pool.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Client: typeof ClientType = require('undici/lib/dispatcher/client');

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

/**
 * Sends one request on a connection of its own to `host` (closed after the response), for the
 * keep-alive race resend: the pool could hand out another idle connection the upstream is
 * closing just as well. Outside the host's pool, so outside its connection limit: one extra
 * connection, for one request, rarely.
 */
export function dispatchOnNewConnection(
  host: UpstreamHost,
  connectTimeoutMs: number,
  options: Dispatcher.DispatchOptions,
  handler: Dispatcher.DispatchHandler,
): void {
  const { address, port } = host.endpoint;
  const client = new Client(`http://${address.includes(':') ? `[${address}]` : address}:${port}`, {
    pipelining: 1,
    connect: { timeout: connectTimeoutMs },
    headersTimeout: 0,
    bodyTimeout: 0,
    maxHeaderSize: 96 * 1024,
  });
  client.dispatch({ ...options, reset: true }, handler);
  // Resolves once the request is done; the connection closes with it (`connection: close`).
  client.close().catch(() => undefined);
}
