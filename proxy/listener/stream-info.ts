import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { downstreamSocket } from './downstream-connection';
import type { MatchedRoute } from '../router/route-table';
import type { UpstreamHost } from '../cluster/upstream-host';
import type { ResponseFlags } from './response-flags';

/**
 * What is known of one request as it goes through the proxy (Envoy's StreamInfo):
 * timings for S_total/S_overhead/S_grid, where it was routed, and how it ended.
 * One per request; plain fields so the request path only assigns numbers.
 */
export class StreamInfo {
  /** performance.now() when the request reached the proxy. */
  readonly startMs: number;
  /** Time spent waiting on upstreams (S_grid), summed over attempts. */
  gridMs = 0;
  route: MatchedRoute | undefined = undefined;
  clusterName = '';
  upstreamHost: UpstreamHost | undefined = undefined;
  /** Envoy's response flags, comma-separated when several apply (`UF,URX`). */
  responseFlag: ResponseFlags = '';
  status = 0;
  bytesSent = 0;
  requestId = '';
  finished = false;
  /** Upstream attempts sent: 1 plus the retries (0 when the proxy answered itself). */
  attempts = 0;
  /**
   * Why a request that the route would retry could not be: '' normally, or e.g.
   * 'request body not buffered (chunked)' — a streamed body cannot be replayed.
   */
  retryNotPossible = '';
  /** Envoy's %RESPONSE_CODE_DETAILS% where it says more than the flags (e.g. which RBAC policy denied). */
  responseDetail = '';

  /** The downstream connection (for HTTP/2: the one the listener accepted, not the stream's proxy of it). */
  readonly socket: Socket;

  constructor(
    /** node's HTTP/1.1 request/response, or their HTTP/2 compatibility counterparts. */
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    startMs: number,
  ) {
    this.startMs = startMs;
    this.socket = downstreamSocket(req);
  }
}
