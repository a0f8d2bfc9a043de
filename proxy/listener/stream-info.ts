import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MatchedRoute } from '../router/route-table';
import type { UpstreamHost } from '../cluster/upstream-host';
import type { ResponseFlag } from './response-flags';

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
  responseFlag: ResponseFlag | '' = '';
  status = 0;
  bytesSent = 0;
  requestId = '';
  finished = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    startMs: number,
  ) {
    this.startMs = startMs;
  }
}
