import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/upstream-host';
import { copyEndToEnd } from '../listener/hop-by-hop';
import { setHeader } from '../router/flat-headers';
import type { HttpConnectionManager } from '../listener/http-connection-manager';
import { ResponseFlag } from '../listener/response-flags';
import type { StreamInfo } from '../listener/stream-info';
import type { ClusterChoice, HeaderContext } from '../router/route-table';

/**
 * One request to one upstream host, streamed both ways: it is undici's dispatch
 * handler, so response bytes go from the upstream socket to the downstream
 * response with backpressure and no intermediate stream objects.
 *
 * S_grid runs from the moment undici writes the request on an upstream
 * connection (`onConnect`) until the upstream response is complete or fails;
 * connection set-up and pool queueing before that count as proxy overhead.
 */
export class UpstreamRequest implements Dispatcher.DispatchHandler {
  private abortUpstream: ((reason?: Error) => void) | undefined;
  private attemptStartMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private resumeUpstream: (() => void) | undefined;

  constructor(
    private readonly hcm: HttpConnectionManager,
    private readonly info: StreamInfo,
    private readonly cluster: Cluster,
    private readonly host: UpstreamHost,
    private readonly choice: ClusterChoice,
    /** Present when the route's header mutations need it (MatchedRoute.usesContext). */
    private readonly context: HeaderContext | undefined,
  ) {}

  send(method: string, path: string, headers: string[], body: IncomingMessage | null): void {
    const info = this.info;
    this.host.activeRequests++;
    this.cluster.stats.rqTotal.value++;
    // A module-level listener finds this request through the response: no closure per request.
    (info.res as ResponseWithUpstream)[kUpstreamRequest] = this;
    info.res.on('close', onDownstreamClose);
    const timeoutMs = info.route!.timeoutMs;
    if (timeoutMs > 0) {
      // Envoy's route timeout starts once the downstream request is complete.
      if (body === null || body.complete) this.timer = setTimeout(onRouteTimeout, timeoutMs, this);
      else body.once('end', () => (this.timer ??= setTimeout(onRouteTimeout, timeoutMs, this)));
    }
    this.host.pool.dispatch({ path, method, headers, body }, this);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    this.attemptStartMs = performance.now();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.done) return false;
    const info = this.info;
    const hcm = this.hcm;
    const headers: string[] = [];
    copyEndToEnd(rawHeaders, headers);
    if (this.context !== undefined) info.route!.applyResponseHeaderMutations(headers, this.context, this.choice);
    // Our server header replaces the upstream's, as Envoy's default OVERWRITE transformation does.
    setHeader(headers, 'server', hcm.config.serverName);
    headers.push('x-envoy-upstream-service-time', String(Math.round(performance.now() - this.attemptStartMs)));
    info.status = statusCode;
    this.cluster.stats.response(statusCode);
    this.resumeUpstream = resume;
    info.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.info.bytesSent += chunk.length;
    const flushed = this.info.res.write(chunk);
    if (!flushed) this.info.res.once('drain', this.resumeUpstream!);
    return flushed;
  }

  onComplete(): void {
    if (this.done) return;
    this.settle();
    this.info.res.end();
    this.hcm.finish(this.info);
  }

  onError(err: Error): void {
    if (this.done) return;
    this.settle();
    const code = (err as NodeJS.ErrnoException).code;
    const stats = this.cluster.stats;
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
      stats.cxConnectFail.value++;
      this.hcm.localReply(this.info, 503, ResponseFlag.UpstreamConnectionFailure, `upstream connect error: ${err.message}\n`);
    } else {
      stats.rqReset.value++;
      this.hcm.localReply(this.info, 502, ResponseFlag.UpstreamConnectionTermination, `upstream reset: ${err.message}\n`);
    }
  }

  /** The route timeout fired before the response completed. */
  timedOut(): void {
    if (this.done) return;
    this.settle();
    this.abortUpstream?.(new Error('route timeout'));
    this.cluster.stats.rqTimeout.value++;
    this.hcm.localReply(this.info, 504, ResponseFlag.UpstreamRequestTimeout, 'upstream request timeout\n');
  }

  downstreamClosed(): void {
    if (this.done) return;
    // The client went away mid-request: stop the upstream work it was waiting for.
    this.settle();
    this.abortUpstream?.(new Error('downstream closed'));
    this.info.responseFlag = ResponseFlag.DownstreamConnectionTermination;
    if (this.info.status === 0) this.info.status = 499;
    this.hcm.finish(this.info);
  }

  /** Ends the attempt: accounts S_grid, releases the host's active count and the timer. */
  private settle(): void {
    this.done = true;
    if (this.attemptStartMs > 0) this.info.gridMs += performance.now() - this.attemptStartMs;
    this.host.activeRequests--;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

const kUpstreamRequest = Symbol('meshlet.upstreamRequest');
type ResponseWithUpstream = ServerResponse & { [kUpstreamRequest]?: UpstreamRequest };

function onDownstreamClose(this: ResponseWithUpstream): void {
  this[kUpstreamRequest]!.downstreamClosed();
}

function onRouteTimeout(request: UpstreamRequest): void {
  request.timedOut();
}
