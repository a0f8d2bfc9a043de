import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { ClusterManager } from '../cluster/cluster-manager';
import type { ListenerStats } from '../metrics/proxy-stats';
import { UpstreamRequest } from '../upstream/upstream-request';
import type { AccessLogger } from './access-log';
import { firstHeaderValue as headerValue } from '../router/flat-headers';
import type { HttpConnectionManagerConfig } from './listener-config';
import { encodeGrpcMessage, grpcStatusOfLocalReply, isGrpcRequest } from './grpc-local-reply';
import { routeRequest } from './request-routing';
import { readWholeBody } from '../http-filter/buffer-filter';
import { ResponseFlag, type ResponseFlags } from './response-flags';
import { armStreamIdleTimeout, disarmStreamIdleTimeout, STREAM_IDLE_TIMEOUT, streamIdleTimeoutMs } from './stream-idle-timeout';
import type { StreamInfo } from './stream-info';
import type { OverloadManager } from '../overload/overload-manager';
import type { TlsMaterial } from '../tls/tls-material';

/**
 * Envoy's HTTP connection manager with the router filter: takes a parsed
 * downstream request, routes it, picks a cluster and a host, and hands it to
 * the upstream. Everything config-derived is precompiled in `config`; this is
 * the per-request path, so it assigns and looks up, and builds little.
 */
export class HttpConnectionManager {
  activeRequests = 0;
  /** Set while draining: responses then carry `connection: close`. */
  draining = false;
  readonly scheme: 'http' | 'https';

  constructor(
    /** Swapped whole when the listener's config (or its RDS route table) changes. */
    public config: HttpConnectionManagerConfig,
    readonly listenerName: string,
    readonly clusters: ClusterManager,
    readonly stats: ListenerStats,
    readonly accessLog: AccessLogger,
    /** The filter chain's TLS (its own certificate is XFCC's By=); undefined for plaintext. */
    readonly tls: TlsMaterial | undefined,
    readonly overload: OverloadManager,
  ) {
    this.scheme = tls === undefined ? 'http' : 'https';
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const routed = routeRequest(this, req, res, undefined);
    if (routed === undefined) return;
    // HTTP/2 says "no body" by ending the stream with the headers; HTTP/1.1 by its framing headers.
    const h2Stream = (req as unknown as Partial<Http2ServerRequest>).stream;
    const hasBody = h2Stream === undefined ? routed.chunked || (headerValue(routed.headers, 'content-length') ?? '0') !== '0' : !h2Stream.endAfterHeaders;
    const { info, cluster, host, choice, context, pick } = routed;
    const send = (body: IncomingMessage | Buffer | null) =>
      new UpstreamRequest(this, info, cluster, host, choice, context, pick).send(routed.method, routed.path, routed.headers, body, routed.retryHeaders);
    const maxBytes = this.config.maxRequestBytes;
    // The upstream request arms the stream idle timeout itself (UpstreamRequest.send).
    if (!hasBody || maxBytes === undefined) return send(hasBody ? req : null);
    // A client that stops sending the body the buffer filter waits for is timed out as any idle stream.
    armStreamIdleTimeout(res, streamIdleTimeoutMs(this.config, info.route), { streamIdleTimedOut: () => this.streamIdleTimedOut(info) });
    readWholeBody(req, headerValue(routed.headers, 'content-length'), maxBytes, (body) => {
      if (info.finished) return;
      if (body !== undefined) return send(body);
      this.replyBeforeBody(info, () => this.localReply(info, 413, '', `request body larger than max_request_bytes (${maxBytes})\n`));
    });
  }

  /** Called exactly once per request, when its response is complete or abandoned. */
  finish(info: StreamInfo): void {
    if (info.finished) return;
    info.finished = true;
    disarmStreamIdleTimeout(info.res);
    this.activeRequests--;
    this.overload.requestDone();
    const totalMs = performance.now() - info.startMs;
    // S_overhead is derived, so S_total = S_overhead + S_grid holds per request by construction.
    const cells = this.stats.timingCells(info.route, info.clusterName, info.status);
    cells.total.observe(totalMs / 1000);
    cells.grid.observe(info.gridMs / 1000);
    cells.overhead.observe((totalMs - info.gridMs) / 1000);
    this.stats.responseClass(info.status);
    const flags = info.responseFlag;
    if (flags !== '') {
      // Each flag counts on its own (`UF,URX` counts UF and URX).
      if (flags.indexOf(',') === -1) this.stats.responseFlag(flags);
      else for (const flag of flags.split(',')) this.stats.responseFlag(flag);
    }
    if (this.accessLog.enabled) this.accessLog.log(info, totalMs);
  }

  /**
   * stream_idle_timeout fired, and the stream's owner has let go of its upstream side: as Envoy,
   * 408 "stream timeout" when no response has started (gRPC-shaped for gRPC), else the stream is
   * reset; counted, and logged with the SI flag and `stream_idle_timeout` details.
   */
  streamIdleTimedOut(info: StreamInfo): void {
    this.noteStreamIdleTimeout(info);
    const reply = () => this.localReply(info, 408, ResponseFlag.StreamIdleTimeout, 'stream timeout\n');
    if (info.req.complete) reply();
    else this.replyBeforeBody(info, reply);
  }

  /**
   * A reply sent while the request body is not all read, and never will be: an HTTP/1.1
   * connection closes after it (it cannot carry another request); an HTTP/2 stream is reset
   * after it with NO_ERROR, which tells the client to stop sending (RFC 9113 §8.1).
   */
  private replyBeforeBody(info: StreamInfo, reply: () => void): void {
    const h2Stream = (info.res as unknown as Partial<Http2ServerResponse>).stream;
    if (h2Stream === undefined) info.res.shouldKeepAlive = false;
    reply();
    // node sends the RST_STREAM once the response is written (a NO_ERROR close waits for it).
    if (h2Stream !== undefined && !h2Stream.closed) h2Stream.close(http2.NGHTTP2_NO_ERROR);
  }

  /** Counts a stream ended by stream_idle_timeout and marks it so for the access log. */
  noteStreamIdleTimeout(info: StreamInfo): void {
    this.stats.rqIdleTimeout.value++;
    info.responseDetail = STREAM_IDLE_TIMEOUT;
    info.responseFlag = ResponseFlag.StreamIdleTimeout;
  }

  /** A response the proxy generates itself, with the reason in the body and the response flag in a header. */
  localReply(info: StreamInfo, status: number, flag: ResponseFlags, body: string): void {
    info.responseFlag = flag;
    const res = info.res;
    if (res.headersSent) {
      // Too late for a status: the client must see a broken response, not a truncated one that looks whole.
      resetStream(res);
    } else if (isGrpcRequest(info.req.headers['content-type'])) {
      // A gRPC client reads a status, whatever the HTTP status would be: HTTP 200 and the status in
      // trailers (node cannot end an HTTP/2 stream with the response headers through its response API).
      info.status = 200;
      const headers = ['content-type', 'application/grpc', 'server', this.config.serverName];
      if (flag !== '') headers.push('x-meshlet-response-flags', flag);
      res.writeHead(200, headers);
      res.addTrailers({ 'grpc-status': String(grpcStatusOfLocalReply(status, flag)), 'grpc-message': encodeGrpcMessage(body.trim()) });
      res.end();
    } else {
      info.status = status;
      const payload = Buffer.from(body);
      info.bytesSent = payload.length;
      const headers = ['content-type', 'text/plain', 'content-length', String(payload.length), 'server', this.config.serverName];
      if (flag !== '') headers.push('x-meshlet-response-flags', flag);
      res.writeHead(status, headers);
      res.end(payload);
    }
    this.finish(info);
  }
}

/**
 * Ends a response that has started, visibly broken: HTTP/1.1 closes the connection; HTTP/2 resets
 * just this stream, with INTERNAL_ERROR (node's default for a destroyed stream is NO_ERROR, which
 * a client takes for the end of the body).
 */
function resetStream(res: ServerResponse): void {
  const h2Stream = (res as unknown as Partial<Http2ServerResponse>).stream;
  if (h2Stream === undefined) res.destroy();
  else h2Stream.close(http2.NGHTTP2_INTERNAL_ERROR);
}
