import type { ServerResponse } from 'node:http';
import type { MatchedRoute } from '../router/route-table';
import type { HttpConnectionManagerConfig } from './listener-config';

/** Envoy's response code details for a stream ended by stream_idle_timeout. */
export const STREAM_IDLE_TIMEOUT = 'stream_idle_timeout';

/** The stream idle timeout of a routed stream: the route's `idle_timeout` when set, else the connection manager's `stream_idle_timeout`; 0: none. */
export function streamIdleTimeoutMs(config: HttpConnectionManagerConfig, route: MatchedRoute | undefined): number {
  return route?.idleTimeoutMs ?? config.streamIdleTimeoutMs;
}

/**
 * Whoever carries a stream when its idle timeout fires (the upstream request, a WebSocket tunnel,
 * the buffer filter reading a body): it lets go of its upstream side and has the connection
 * manager answer 408 or reset the stream (HttpConnectionManager.streamIdleTimedOut).
 */
export interface IdleStream {
  streamIdleTimedOut(): void;
}

const kIdleStream = Symbol('meshlet.idleStream');
type ResponseWithIdleStream = ServerResponse & { [kIdleStream]?: IdleStream | undefined };

/**
 * Envoy's stream_idle_timeout: a stream that passes no bytes either way for `ms` is ended.
 *
 * The timer is the one node keeps on the stream's transport and restarts itself on every read
 * and write, so activity costs nothing here: for HTTP/1.1 the connection (`res.setTimeout` sets
 * the socket's, and node's server hands the socket's timeout to the response in flight), which
 * carries one stream at a time; for HTTP/2 the stream itself (the compatibility response's
 * setTimeout is its Http2Stream's), so one idle stream never touches its neighbours. The
 * connection's keep-alive idle_timeout is node's, set on the same socket once a response is
 * finished: the stream's timer is disarmed before that (HttpConnectionManager.finish) and a new
 * request's is armed after node cleared it, so each governs its own stretch of the connection.
 *
 * Arming again hands the stream to another owner and restarts the timer. An upgraded connection,
 * which node's server no longer times, forwards its socket's timeout to the response (acceptUpgrade).
 */
export function armStreamIdleTimeout(res: ServerResponse, ms: number, stream: IdleStream): void {
  if (ms <= 0) return;
  const r = res as ResponseWithIdleStream;
  // One listener per response, whoever owns the stream (no closure per request).
  if (!(kIdleStream in r)) res.on('timeout', onStreamIdle);
  r[kIdleStream] = stream;
  res.setTimeout(ms);
}

/** Stops the stream's idle timer (idempotent); the connection's own timeouts are node's again. */
export function disarmStreamIdleTimeout(res: ServerResponse): void {
  const r = res as ResponseWithIdleStream;
  if (r[kIdleStream] === undefined) return;
  r[kIdleStream] = undefined;
  res.setTimeout(0);
}

/** The owner stays set until the stream finishes (which disarms): writes after a timeout restart node's timer. */
function onStreamIdle(this: ResponseWithIdleStream): void {
  this[kIdleStream]?.streamIdleTimedOut();
}
