import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { hash32 } from '../balancer/hash';
import type { PickContext } from '../balancer/host';
import type { ClusterManager } from '../cluster/cluster-manager';
import type { ListenerStats } from '../metrics/proxy-stats';
import { takeRetryHeaders } from '../router/retry-headers';
import type { HeaderContext, RouteRequest } from '../router/route-table';
import { UpstreamRequest } from '../upstream/upstream-request';
import type { AccessLogger } from './access-log';
import { firstHeaderValue as headerValue, removeHeader, setHeader } from '../router/flat-headers';
import { isInternalAddress, trustedClientAddress } from './client-address';
import { copyEndToEnd } from './hop-by-hop';
import type { HttpConnectionManagerConfig } from './listener-config';
import { encodeGrpcMessage, grpcStatusOfLocalReply, isGrpcRequest } from './grpc-local-reply';
import { ResponseFlag, type ResponseFlags } from './response-flags';
import { StreamInfo } from './stream-info';
import { forwardedClientCert } from '../http-filter/client-cert-header';
import type { RbacFilter, RbacRequest } from '../http-filter/rbac-policy';
import { verifiedPeer } from '../tls/handshake-peer';
import type { PeerIdentity } from '../tls/peer-identity';
import type { TlsMaterial } from '../tls/tls-material';

const XFCC = 'x-forwarded-client-cert';

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
  ) {
    this.scheme = tls === undefined ? 'http' : 'https';
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const info = new StreamInfo(req, res, performance.now());
    const config = this.config;
    this.stats.rqTotal.value++;
    this.activeRequests++;
    if (this.draining) res.shouldKeepAlive = false;

    const headers: string[] = [];
    const chunked = copyEndToEnd(req.rawHeaders, headers);
    let url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') url = this.originForm(url, headers);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const request: RouteRequest = {
      method: req.method ?? 'GET',
      authority: headerValue(headers, 'host') ?? '',
      path,
      query: q === -1 ? '' : url.slice(q + 1),
      headers,
      scheme: this.scheme,
    };

    if (config.routeTable.hasInternalOnlyHeaders && !isInternalAddress(this.clientAddress(info, headers))) {
      config.routeTable.removeInternalOnlyHeaders(headers);
    }
    const peer = this.tls === undefined ? undefined : verifiedPeer(info.socket);
    if (config.rbac !== undefined && !this.authorize(config.rbac, info, request, peer)) return;
    // Envoy's router consumes the retry headers (x-envoy-retry-on, x-envoy-max-retries, ...)
    // from every request and honours them only from internal clients.
    let retryHeaders = takeRetryHeaders(headers);
    if (retryHeaders !== undefined && !isInternalAddress(this.clientAddress(info, headers))) retryHeaders = undefined;
    const route = config.routeTable.route(request);
    if (route === undefined) return this.localReply(info, 404, ResponseFlag.NoRouteFound, 'no route matched the request\n');
    info.route = route;
    if (route.directResponse !== undefined) {
      return this.reply(info, request, route.directResponse.status, route.directResponse.body, undefined);
    }
    if (route.redirect !== undefined) {
      return this.reply(info, request, route.redirect.status, undefined, route.redirectLocation(request));
    }

    const choice = route.selectCluster(Math.random());
    info.clusterName = choice.name;
    const cluster = this.clusters.get(choice.name);
    if (cluster === undefined) return this.localReply(info, 503, ResponseFlag.NoClusterFound, `cluster "${choice.name}" not found\n`);

    this.addForwardingHeaders(info, headers, peer);
    const context = route.usesContext ? new RequestContext(request, info) : undefined;
    let pick: PickContext | undefined;
    if (context !== undefined) {
      // Envoy hashes the request as the mutations left it.
      route.applyRequestHeaderMutations(headers, context, choice);
      const key = route.hashPolicy === undefined ? undefined : route.hashKey(request, context);
      if (key !== undefined) pick = { hash: hash32(key) };
    }
    const host = cluster.pick(pick);
    if (host === undefined) {
      cluster.stats.noneHealthy.value++;
      return this.localReply(info, 503, ResponseFlag.NoHealthyUpstream, 'no healthy upstream\n');
    }
    info.upstreamHost = host;
    if (context !== undefined) {
      context.upstreamRemoteAddress = host.endpoint.address;
      context.upstreamRemotePort = host.endpoint.port;
    }
    if (route.hostRewriteLiteral !== undefined) setHeader(headers, 'host', route.hostRewriteLiteral);
    else if (route.autoHostRewrite) setHeader(headers, 'host', host.key);

    const upstreamPath = route.rewritePath(path) + (q === -1 ? '' : url.slice(q));
    // HTTP/2 says "no body" by ending the stream with the headers; HTTP/1.1 by its framing headers.
    const h2Stream = (req as unknown as Partial<Http2ServerRequest>).stream;
    const hasBody = h2Stream === undefined ? chunked || (headerValue(headers, 'content-length') ?? '0') !== '0' : !h2Stream.endAfterHeaders;
    new UpstreamRequest(this, info, cluster, host, choice, context, pick).send(request.method, upstreamPath, headers, hasBody ? req : null, retryHeaders);
  }

  /** Called exactly once per request, when its response is complete or abandoned. */
  finish(info: StreamInfo): void {
    if (info.finished) return;
    info.finished = true;
    this.activeRequests--;
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

  /** A response the proxy generates itself, with the reason in the body and the response flag in a header. */
  localReply(info: StreamInfo, status: number, flag: ResponseFlags, body: string): void {
    info.responseFlag = flag;
    const res = info.res;
    if (res.headersSent) {
      // Too late for a status: the client must see a broken response, not a truncated one that looks whole.
      res.destroy();
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

  /** A direct response or redirect: the route's response header mutations apply, as in Envoy. */
  private reply(info: StreamInfo, request: RouteRequest, status: number, body: Buffer | undefined, location: string | undefined): void {
    info.status = status;
    const headers: string[] = ['content-length', String(body?.length ?? 0)];
    if (location !== undefined) headers.push('location', location);
    if (body !== undefined && body.length > 0) headers.push('content-type', 'text/plain');
    info.route!.applyResponseHeaderMutations(headers, new RequestContext(request, info));
    setHeader(headers, 'server', this.config.serverName);
    info.bytesSent = body?.length ?? 0;
    info.res.writeHead(status, headers);
    info.res.end(body);
    this.finish(info);
  }

  /** Envoy's RBAC filter: false when the request was denied (and answered 403). */
  private authorize(rbac: RbacFilter, info: StreamInfo, request: RouteRequest, peer: PeerIdentity | undefined): boolean {
    const rbacRequest: RbacRequest = {
      ...request,
      peer,
      remoteAddress: info.socket.remoteAddress ?? '',
      clientAddress: this.clientAddress(info, request.headers),
      localPort: info.socket.localPort ?? 0,
    };
    const shadow = rbac.evaluateShadow(rbacRequest);
    if (shadow !== undefined) (shadow.allowed ? this.stats.rbacShadowAllowed : this.stats.rbacShadowDenied).value++;
    const decision = rbac.evaluate(rbacRequest);
    if (decision.allowed) {
      this.stats.rbacAllowed.value++;
      return true;
    }
    this.stats.rbacDenied.value++;
    info.responseDetail = `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]`;
    this.localReply(info, 403, '', 'RBAC: access denied\n');
    return false;
  }

  /** The original client as Envoy trusts it (use_remote_address, xff_num_trusted_hops). */
  private clientAddress(info: StreamInfo, headers: readonly string[]): string {
    const config = this.config;
    return trustedClientAddress(info.socket.remoteAddress ?? '', headerValue(headers, 'x-forwarded-for'), config.useRemoteAddress, config.xffNumTrustedHops);
  }

  /** x-forwarded-for / -proto and x-request-id, as Envoy's connection manager sets them. */
  private addForwardingHeaders(info: StreamInfo, headers: string[], peer: PeerIdentity | undefined): void {
    const config = this.config;
    const xfcc = headerValue(headers, XFCC);
    const forwarded = forwardedClientCert(xfcc, config.forwardClientCert, config.clientCertFields, this.tls?.current?.localIdentity, peer);
    if (forwarded !== undefined) setHeader(headers, XFCC, forwarded);
    else if (xfcc !== undefined) removeHeader(headers, XFCC);
    if (config.useRemoteAddress) {
      // This proxy is the edge: it appends the peer it saw, and the scheme it served.
      const xff = headerValue(headers, 'x-forwarded-for');
      const peer = info.socket.remoteAddress ?? '';
      setHeader(headers, 'x-forwarded-for', xff === undefined ? peer : `${xff}, ${peer}`);
      setHeader(headers, 'x-forwarded-proto', this.scheme);
    } else if (headerValue(headers, 'x-forwarded-proto') === undefined) {
      headers.push('x-forwarded-proto', this.scheme);
    }
    let requestId = headerValue(headers, 'x-request-id');
    if (requestId === undefined && config.generateRequestId) {
      requestId = randomUUID();
      headers.push('x-request-id', requestId);
    }
    if (requestId !== undefined) info.requestId = requestId;
    if (config.via !== '') {
      const via = headerValue(headers, 'via');
      setHeader(headers, 'via', via === undefined ? config.via : `${via}, ${config.via}`);
    }
    // We answered any `Expect: 100-continue` ourselves (node does); the upstream gets the body directly.
    removeHeader(headers, 'expect');
  }

  /** Absolute-form request targets (`GET http://host/path`) go upstream in origin form, with Host from the authority. */
  private originForm(url: string, headers: string[]): string {
    try {
      const parsed = new URL(url);
      setHeader(headers, 'host', parsed.host);
      return parsed.pathname + parsed.search;
    } catch {
      return url;
    }
  }
}

/**
 * What header command operators and hash policies read (Envoy's stream info as the router
 * sees it). A class, so every request's context has the same shape; upstream fields are
 * filled in once a host is picked.
 */
class RequestContext implements HeaderContext {
  readonly downstreamRemoteAddress: string;
  readonly downstreamRemotePort: number;
  readonly downstreamLocalAddress: string;
  readonly downstreamLocalPort: number;
  readonly protocol: string;
  readonly startTimeMs: number;
  upstreamRemoteAddress: string | undefined = undefined;
  upstreamRemotePort: number | undefined = undefined;

  constructor(
    readonly request: RouteRequest,
    info: StreamInfo,
  ) {
    const { socket, req, startMs } = info;
    this.downstreamRemoteAddress = socket.remoteAddress ?? '';
    this.downstreamRemotePort = socket.remotePort ?? 0;
    this.downstreamLocalAddress = socket.localAddress ?? '';
    this.downstreamLocalPort = socket.localPort ?? 0;
    this.protocol = req.httpVersion === '2.0' ? 'HTTP/2' : req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
    this.startTimeMs = performance.timeOrigin + startMs;
  }
}
