import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hash32 } from '../balancer/hash';
import type { PickContext } from '../balancer/host';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/upstream-host';
import { forwardedClientCert } from '../http-filter/client-cert-header';
import type { RbacFilter, RbacRequest } from '../http-filter/rbac-policy';
import { firstHeaderValue as headerValue, removeHeader, setHeader } from '../router/flat-headers';
import { takeRetryHeaders } from '../router/retry-headers';
import type { RetryRequestHeaders } from '../router/retry-policy';
import type { ClusterChoice, HeaderContext, RouteRequest } from '../router/route-table';
import { upgradeEnabled } from '../router/upgrade-configs';
import { verifiedPeer } from '../tls/handshake-peer';
import type { PeerIdentity } from '../tls/peer-identity';
import { isInternalAddress, trustedClientAddress } from './client-address';
import { copyEndToEnd } from './hop-by-hop';
import { dropUnderscoreHeaders, refuseRequest } from './request-validation';
import { normalizePath } from '../router/path-normalization';
import type { HttpConnectionManager } from './http-connection-manager';
import { ResponseFlag } from './response-flags';
import { StreamInfo } from './stream-info';

const XFCC = 'x-forwarded-client-cert';

/** 400 for a request target that cannot be routed safely, counted as Envoy's downstream_rq_failed_path_normalization. */
function refusePath(hcm: HttpConnectionManager, info: StreamInfo, reason: string): undefined {
  hcm.stats.failedPathNormalization.value++;
  info.responseDetail = 'path_normalization_failed';
  hcm.localReply(info, 400, '', `${reason}\n`);
  return undefined;
}

/** A request the connection manager decided to send upstream: where to, and as what. */
export interface RoutedRequest {
  readonly info: StreamInfo;
  readonly method: string;
  /** The upstream path (rewritten), with the query. */
  readonly path: string;
  /** End-to-end request headers as they go upstream (forwarding headers and mutations applied). */
  readonly headers: string[];
  /** The request came with Transfer-Encoding (a body of unknown length). */
  readonly chunked: boolean;
  readonly choice: ClusterChoice;
  readonly cluster: Cluster;
  readonly host: UpstreamHost;
  /** Present when the route's header mutations or hashing read it (MatchedRoute.usesContext). */
  readonly context: RequestContext | undefined;
  readonly pick: PickContext | undefined;
  /** x-envoy-retry-on and friends from an internal client (already removed from `headers`). */
  readonly retryHeaders: RetryRequestHeaders | undefined;
}

/**
 * Envoy's connection manager up to the upstream, for one request: internal-only headers, RBAC,
 * route match, direct responses and redirects, cluster and host choice, forwarding headers and
 * header mutations. Returns undefined when the request was answered here (the reply is sent and
 * the stream finished); otherwise the caller sends it upstream and finishes it.
 *
 * `upgrade`: the request's Upgrade type (lowercase) when it asks for one. As Envoy's connection
 * manager, an upgrade that neither the route nor the connection manager enables is refused with
 * 403 once a route matched (without a route the router's 404 answers it).
 */
export function routeRequest(hcm: HttpConnectionManager, req: IncomingMessage, res: ServerResponse, upgrade: string | undefined): RoutedRequest | undefined {
  const info = new StreamInfo(req, res, performance.now());
  const config = hcm.config;
  hcm.stats.rqTotal.value++;
  hcm.activeRequests++;
  if (hcm.draining) res.shouldKeepAlive = false;

  if (!hcm.overload.requestStarted()) {
    hcm.stats.overloadClose.value++;
    hcm.localReply(info, 503, ResponseFlag.OverloadManager, 'envoy overloaded\n');
    return undefined;
  }
  const refusal = refuseRequest(req.rawHeaders, config.requestLimits);
  if (refusal !== undefined) {
    hcm.stats.protocolError.value++;
    // A connection that sent one malformed request is not trusted with the next.
    res.shouldKeepAlive = false;
    hcm.localReply(info, refusal.status, '', `${refusal.reason}\n`);
    return undefined;
  }
  const headers: string[] = [];
  const chunked = copyEndToEnd(req.rawHeaders, headers);
  if (config.requestLimits.underscoresAction === 'DROP_HEADER') dropUnderscoreHeaders(headers);
  let url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') url = originForm(url, headers);
  // As Envoy: a fragment is never part of a request target; a client sending one is confused or probing.
  if (url.includes('#')) return refusePath(hcm, info, 'request target with a fragment (#)');
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  // The query with its "?", kept byte for byte whatever happens to the path.
  const search = q === -1 ? '' : url.slice(q);
  // Routing, RBAC and the upstream all see the normalized path, so /admin/../secret cannot pass for /secret's neighbour.
  const normalized = normalizePath(path, config.pathNormalization);
  if (normalized.kind === 'reject') return refusePath(hcm, info, `path normalization failed (${normalized.reason})`);
  if (normalized.kind === 'redirect') {
    hcm.stats.redirectedWithNormalizedPath.value++;
    info.status = 307;
    const location = normalized.path + search;
    res.writeHead(307, ['location', location, 'content-length', '0', 'server', config.serverName]);
    res.end();
    hcm.finish(info);
    return undefined;
  }
  path = normalized.path;
  const request: RouteRequest = {
    method: req.method ?? 'GET',
    authority: headerValue(headers, 'host') ?? '',
    path,
    query: q === -1 ? '' : search.slice(1),
    headers,
    scheme: hcm.scheme,
  };

  if (config.routeTable.hasInternalOnlyHeaders && !isInternalAddress(clientAddress(hcm, info, headers))) {
    config.routeTable.removeInternalOnlyHeaders(headers);
  }
  const peer = hcm.tls === undefined ? undefined : verifiedPeer(info.socket);
  if (config.rbac !== undefined && !authorize(hcm, config.rbac, info, request, peer)) return undefined;
  // Envoy's router consumes the retry headers (x-envoy-retry-on, x-envoy-max-retries, ...)
  // from every request and honours them only from internal clients.
  let retryHeaders = takeRetryHeaders(headers);
  if (retryHeaders !== undefined && !isInternalAddress(clientAddress(hcm, info, headers))) retryHeaders = undefined;
  const route = config.routeTable.route(request);
  if (route === undefined) {
    hcm.localReply(info, 404, ResponseFlag.NoRouteFound, 'no route matched the request\n');
    return undefined;
  }
  info.route = route;
  if (upgrade !== undefined && !upgradeEnabled(upgrade, config.upgrades, route.upgrades)) {
    hcm.stats.wsOnNonWsRoute.value++;
    info.responseDetail = 'upgrade_failed';
    hcm.localReply(info, 403, '', '');
    return undefined;
  }
  if (route.directResponse !== undefined) {
    reply(hcm, info, request, route.directResponse.status, route.directResponse.body, undefined);
    return undefined;
  }
  if (route.redirect !== undefined) {
    reply(hcm, info, request, route.redirect.status, undefined, route.redirectLocation(request));
    return undefined;
  }

  const choice = route.selectCluster(Math.random());
  info.clusterName = choice.name;
  const cluster = hcm.clusters.get(choice.name);
  if (cluster === undefined) {
    hcm.localReply(info, 503, ResponseFlag.NoClusterFound, `cluster "${choice.name}" not found\n`);
    return undefined;
  }

  addForwardingHeaders(hcm, info, headers, peer);
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
    hcm.localReply(info, 503, ResponseFlag.NoHealthyUpstream, 'no healthy upstream\n');
    return undefined;
  }
  info.upstreamHost = host;
  if (context !== undefined) {
    context.upstreamRemoteAddress = host.endpoint.address;
    context.upstreamRemotePort = host.endpoint.port;
  }
  if (route.hostRewriteLiteral !== undefined) setHeader(headers, 'host', route.hostRewriteLiteral);
  else if (route.autoHostRewrite) setHeader(headers, 'host', host.key);

  const upstreamPath = route.rewritePath(path) + search;
  return { info, method: request.method, path: upstreamPath, headers, chunked, choice, cluster, host, context, pick, retryHeaders };
}

/**
 * An upstream response's end-to-end headers made the downstream response's, in place: the
 * route's response header mutations, our Server header (replacing the upstream's, as Envoy's
 * default OVERWRITE does), the upstream's time and any response flag.
 */
export function toDownstreamResponseHeaders(
  hcm: HttpConnectionManager,
  info: StreamInfo,
  context: HeaderContext | undefined,
  choice: ClusterChoice,
  headers: string[],
  upstreamMs: number,
): void {
  if (context !== undefined) info.route!.applyResponseHeaderMutations(headers, context, choice);
  setHeader(headers, 'server', hcm.config.serverName);
  headers.push('x-envoy-upstream-service-time', String(Math.round(upstreamMs)));
  if (info.responseFlag !== '') headers.push('x-meshlet-response-flags', info.responseFlag);
}

/** A direct response or redirect: the route's response header mutations apply, as in Envoy. */
function reply(hcm: HttpConnectionManager, info: StreamInfo, request: RouteRequest, status: number, body: Buffer | undefined, location: string | undefined): void {
  info.status = status;
  const headers: string[] = ['content-length', String(body?.length ?? 0)];
  if (location !== undefined) headers.push('location', location);
  if (body !== undefined && body.length > 0) headers.push('content-type', 'text/plain');
  info.route!.applyResponseHeaderMutations(headers, new RequestContext(request, info));
  setHeader(headers, 'server', hcm.config.serverName);
  info.bytesSent = body?.length ?? 0;
  info.res.writeHead(status, headers);
  info.res.end(body);
  hcm.finish(info);
}

/** Envoy's RBAC filter: false when the request was denied (and answered 403). */
function authorize(hcm: HttpConnectionManager, rbac: RbacFilter, info: StreamInfo, request: RouteRequest, peer: PeerIdentity | undefined): boolean {
  const stats = hcm.stats;
  const rbacRequest: RbacRequest = {
    ...request,
    peer,
    remoteAddress: info.socket.remoteAddress ?? '',
    clientAddress: clientAddress(hcm, info, request.headers),
    localPort: info.socket.localPort ?? 0,
  };
  const shadow = rbac.evaluateShadow(rbacRequest);
  if (shadow !== undefined) (shadow.allowed ? stats.rbacShadowAllowed : stats.rbacShadowDenied).value++;
  const decision = rbac.evaluate(rbacRequest);
  if (decision.allowed) {
    stats.rbacAllowed.value++;
    return true;
  }
  stats.rbacDenied.value++;
  info.responseDetail = `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]`;
  hcm.localReply(info, 403, '', 'RBAC: access denied\n');
  return false;
}

/** The original client as Envoy trusts it (use_remote_address, xff_num_trusted_hops). */
function clientAddress(hcm: HttpConnectionManager, info: StreamInfo, headers: readonly string[]): string {
  const config = hcm.config;
  return trustedClientAddress(info.socket.remoteAddress ?? '', headerValue(headers, 'x-forwarded-for'), config.useRemoteAddress, config.xffNumTrustedHops);
}

/** x-forwarded-for / -proto and x-request-id, as Envoy's connection manager sets them. */
function addForwardingHeaders(hcm: HttpConnectionManager, info: StreamInfo, headers: string[], peer: PeerIdentity | undefined): void {
  const config = hcm.config;
  const xfcc = headerValue(headers, XFCC);
  const forwarded = forwardedClientCert(xfcc, config.forwardClientCert, config.clientCertFields, hcm.tls?.current?.localIdentity, peer);
  if (forwarded !== undefined) setHeader(headers, XFCC, forwarded);
  else if (xfcc !== undefined) removeHeader(headers, XFCC);
  if (config.useRemoteAddress) {
    // This proxy is the edge: it appends the peer it saw, and the scheme it served.
    const xff = headerValue(headers, 'x-forwarded-for');
    const peer = info.socket.remoteAddress ?? '';
    setHeader(headers, 'x-forwarded-for', xff === undefined ? peer : `${xff}, ${peer}`);
    setHeader(headers, 'x-forwarded-proto', hcm.scheme);
  } else if (headerValue(headers, 'x-forwarded-proto') === undefined) {
    headers.push('x-forwarded-proto', hcm.scheme);
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
function originForm(url: string, headers: string[]): string {
  try {
    const parsed = new URL(url);
    setHeader(headers, 'host', parsed.host);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

/**
 * What header command operators and hash policies read (Envoy's stream info as the router
 * sees it). A class, so every request's context has the same shape; upstream fields are
 * filled in once a host is picked.
 */
export class RequestContext implements HeaderContext {
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
