import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * The connection a request came on. HTTP/1.1 requests have it as `req.socket`; HTTP/2 requests
 * only a proxy of their session's socket (for h2c, of node's wrapper around it), so the socket
 * the listener accepted is recorded per session: its addresses, and the TLS peer identity the
 * listener attached to it, are what the connection manager reads.
 */
const sessionSockets = new WeakMap<Http2Session, Socket>();

export function recordSessionSocket(session: Http2Session, socket: Socket): void {
  sessionSockets.set(session, socket);
}

/** `req` is node's HTTP/1.1 request or its HTTP/2 compatibility request, which the connection manager treats alike. */
export function downstreamSocket(req: IncomingMessage): Socket {
  const session = (req as unknown as Partial<Http2ServerRequest>).stream?.session;
  return (session === undefined ? undefined : sessionSockets.get(session)) ?? req.socket;
}
