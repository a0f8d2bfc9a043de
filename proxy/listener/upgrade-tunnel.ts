import { ServerResponse, STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { isKeepAliveRace } from '../router/retry-policy';
import { onNewConnection } from '../upstream/connections';
import { CONNECT_FAILURE, RESET, RESET_END, responseOutcome, TIMEOUT } from '../upstream/outcomes';
import type { HttpConnectionManager } from './http-connection-manager';
import { copyEndToEnd } from './hop-by-hop';
import { routeRequest, toDownstreamResponseHeaders, type RoutedRequest } from './request-routing';
import { ResponseFlag } from './response-flags';
import { armStreamIdleTimeout, streamIdleTimeoutMs, type IdleStream } from './stream-idle-timeout';

/** node's socket → the response being written on it (node:http's own field; no public API tells it). */
type SocketWithResponse = Socket & { _httpMessage?: ServerResponse | null };

/**
 * node's `upgrade` event of a filter chain's HTTP/1.1 codec: a request with `Connection: upgrade`
 * and `Upgrade`, whose connection node has handed over with the bytes read past its headers.
 *
 * The request is routed as any other (routeRequest: RBAC, route, cluster, host, forwarding
 * headers), refused with 403 when no upgrade config enables its type, and otherwise sent upstream
 * by an UpgradeTunnel. Refusals and non-101 answers are written by a node ServerResponse on the
 * connection, so they are framed as the connection manager's own replies, and close it.
 */
export function acceptUpgrade(http: HttpServer, hcm: HttpConnectionManager, req: IncomingMessage, socket: Socket, head: Buffer): void {
  // A pipelined upgrade comes while the response before it may still be going out: it waits its turn.
  const previous = (socket as SocketWithResponse)._httpMessage;
  if (previous != null) {
    previous.once('finish', () => setImmediate(acceptUpgrade, http, hcm, req, socket, head));
    return;
  }
  const upgrade = req.headers.upgrade ?? '';
  const type = upgrade.toLowerCase();
  if (type === 'h2c') return serveWithoutH2cUpgrade(http, req, socket, head);
  // node's HTTP/1.1 codec had the socket's errors and timeouts until the upgrade; from now on errors
  // only close it, and its timeout goes to the stream's response, as node's server sends it to the
  // response in flight: it is the stream idle timeout (armStreamIdleTimeout), for the tunnel's life.
  socket.on('error', () => socket.destroy());
  socket.removeAllListeners('timeout');
  const res = new ServerResponse(req);
  socket.on('timeout', () => res.emit('timeout'));
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => socket.destroySoon());
  const routed = routeRequest(hcm, req, res, type);
  if (routed !== undefined) new UpgradeTunnel(hcm, routed, res, socket, head, upgrade).start();
}

/**
 * Envoy does not do h2c upgrades: its HTTP/1.1 codec drops `Upgrade: h2c`, `HTTP2-Settings` and
 * their Connection tokens and serves the request as HTTP/1.1. node has already detached the
 * connection from its codec, so the request goes back to it as it would have come without them.
 */
function serveWithoutH2cUpgrade(http: HttpServer, req: IncomingMessage, socket: Socket, head: Buffer): void {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    let value = raw[i + 1]!;
    if (name === 'upgrade' || name === 'http2-settings') continue;
    if (name === 'connection') {
      value = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token !== '' && !/^(upgrade|http2-settings)$/i.test(token))
        .join(', ');
      if (value === '') continue;
    }
    text += `${raw[i]}: ${value}\r\n`;
  }
  socket.unshift(Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
  http.emit('connection', socket);
}

/**
 * One upgraded stream (a WebSocket), as Envoy's router proxies it over HTTP/1.1: the upgrade
 * request goes to the chosen host with the request's end-to-end and forwarding headers; the
 * upstream's 101 goes downstream with the same response headers the connection manager gives
 * any response, and from then on the two connections are piped both ways (the bytes the client
 * sent past its request first), with backpressure. An upstream that answers anything but 101 has
 * its response forwarded, and the connection closes after it.
 *
 * What bounds it, as in Envoy:
 * - the route timeout, from the request until the upstream's 101: an established WebSocket is
 *   not timed out by it (Envoy applies it to the upgrade handshake only, envoy#41075; before
 *   that change it did not apply at all, the upgrade request never being complete);
 * - `stream_idle_timeout` (or the route's `idle_timeout`), as for any stream
 *   (stream-idle-timeout.ts): no bytes either way for that long closes the stream (408 when no
 *   response has started);
 * - `max_stream_duration` (the route's, else the connection manager's), over the whole stream;
 * - the listener's drain: upgraded streams count as active requests, so a drain waits for them
 *   up to the drain time and then closes their connections with the rest.
 *
 * The stream holds a circuit breaker request slot and counts as an active request of its host
 * for its whole life, as Envoy's upgraded stream holds its upstream request.
 */
class UpgradeTunnel implements Dispatcher.DispatchHandler, IdleStream {
  private abortUpstream: ((reason?: Error) => void) | undefined = undefined;
  private attemptStartMs = 0;
  private reusedConnection = false;
  private keepAliveResent = false;
  private responseStarted = false;
  private resumeUpstream: (() => void) | undefined = undefined;
  private upstream: Duplex | undefined = undefined;
  private routeTimer: NodeJS.Timeout | undefined = undefined;
  private durationTimer: NodeJS.Timeout | undefined = undefined;
  /** Slot, host count and upgrade gauge are held until released(), exactly once. */
  private released = false;
  /** downstream.bytesWritten once the 101 went out: what the tunnel sent downstream is counted from there. */
  private bytesBefore = 0;
  private socketsOpen = 2;

  constructor(
    private readonly hcm: HttpConnectionManager,
    private readonly routed: RoutedRequest,
    private readonly res: ServerResponse,
    private readonly downstream: Socket,
    /** The bytes the client sent past its request headers, for the upstream once upgraded. */
    private readonly head: Buffer,
    /** The request's Upgrade header, sent upstream as it came. */
    private readonly upgrade: string,
  ) {}

  start(): void {
    const { cluster, host, info } = this.routed;
    const route = info.route!;
    if (cluster.config.upstreamProtocol === 'http2') {
      // Envoy would carry it as an extended CONNECT (RFC 8441), which meshlet's upstream does not speak.
      info.responseDetail = 'upgrade_to_http2_upstream_not_supported';
      return this.hcm.localReply(info, 501, '', `cluster "${cluster.config.name}" speaks HTTP/2: WebSocket over HTTP/2 (RFC 8441) is not supported\n`);
    }
    if (!cluster.breakers.tryAcquireRequest(host)) {
      cluster.stats.rqPendingOverflow.value++;
      return this.hcm.localReply(info, 503, ResponseFlag.UpstreamOverflow, 'upstream overflow: circuit breaker max_requests reached\n');
    }
    host.activeRequests++;
    const stats = this.hcm.stats;
    stats.upgradesTotal.value++;
    stats.upgradesActive.value++;
    this.downstream.once('close', () => this.downstreamClosed());
    // The downstream socket's timeout restarts on every read and write, and each byte through the tunnel is both.
    armStreamIdleTimeout(this.res, streamIdleTimeoutMs(this.hcm.config, route), this);
    if (route.timeoutMs > 0) this.routeTimer = setTimeout(() => this.timedOut(), route.timeoutMs);
    const maxDurationMs = route.maxStreamDurationMs || this.hcm.config.maxStreamDurationMs;
    if (maxDurationMs > 0) {
      const left = Math.max(0, maxDurationMs - (performance.now() - info.startMs));
      this.durationTimer = setTimeout(() => this.durationExceeded(route.maxStreamDurationMs > 0), left);
    }
    this.dispatch(false);
  }

  /** Always over HTTP/1.1: the upgrade is an HTTP/1.1 mechanism. */
  private dispatch(newConnection: boolean): void {
    const { cluster, host, info, method, path, headers } = this.routed;
    cluster.stats.rqTotal.value++;
    info.attempts++;
    const options = { method, path, headers, body: null, upgrade: this.upgrade };
    if (newConnection) host.dispatchOnNewConnection(false, options, this);
    else host.pool(false).dispatch(options, this);
  }

  // undici's handler.

  onConnect(abort: (reason?: Error) => void): void {
    if (this.released) {
      abort(new Error('upgrade abandoned'));
      return;
    }
    this.abortUpstream = abort;
    this.attemptStartMs = performance.now();
    this.reusedConnection = !onNewConnection();
  }

  /** The upstream answered without upgrading: its response goes downstream as it is. */
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.released) return true;
    const { cluster, host, info } = this.routed;
    cluster.stats.response(statusCode);
    cluster.reportOutcome(host, responseOutcome(statusCode));
    this.responseStarted = true;
    info.status = statusCode;
    this.resumeUpstream = resume;
    this.res.writeHead(statusCode, this.responseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.released) return true;
    this.routed.info.bytesSent += chunk.length;
    const flushed = this.res.write(chunk);
    if (!flushed) this.res.once('drain', this.resumeUpstream!);
    return flushed;
  }

  onComplete(): void {
    if (this.released) return;
    this.release();
    // The connection closes once it is written (acceptUpgrade).
    this.res.end();
    this.hcm.finish(this.routed.info);
  }

  onError(err: Error): void {
    if (this.released) return;
    const { cluster, host, info, method } = this.routed;
    const connected = this.abortUpstream !== undefined;
    // A keep-alive connection the upstream closed as the upgrade went out: sent once more on a new one, as any request.
    if (!this.responseStarted && isKeepAliveRace(RESET_END, method, false, connected && this.reusedConnection, this.keepAliveResent)) {
      this.keepAliveResent = true;
      this.abortUpstream = undefined;
      return this.dispatch(true);
    }
    this.release();
    if (!connected) {
      cluster.stats.cxConnectFail.value++;
      cluster.reportOutcome(host, CONNECT_FAILURE);
      return this.hcm.localReply(info, 503, ResponseFlag.UpstreamConnectionFailure, `upstream connect error: ${err.message}\n`);
    }
    cluster.stats.rqReset.value++;
    cluster.reportOutcome(host, RESET);
    // After response headers went downstream, localReply resets the connection instead.
    this.hcm.localReply(info, 502, ResponseFlag.UpstreamConnectionTermination, `upstream reset: ${err.message}\n`);
  }

  /** The upstream switched protocols: the 101 goes downstream and the two connections are joined. */
  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    if (this.released) {
      upstream.destroy();
      return;
    }
    const { cluster, host, info } = this.routed;
    clearTimeout(this.routeTimer);
    cluster.stats.response(statusCode);
    cluster.reportOutcome(host, responseOutcome(statusCode));
    this.responseStarted = true;
    info.status = statusCode;
    const raw = rawHeaders ?? [];
    const headers = this.responseHeaders(raw);
    // The hop-by-hop pair that makes it a switch, with the protocol the upstream switched to.
    headers.push('connection', 'upgrade', 'upgrade', upgradeOf(raw) ?? this.upgrade);
    let text = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    const downstream = this.downstream;
    // From here the connection is the tunnel's: the response object no longer writes on it, nor closes it.
    this.res.detachSocket(downstream);
    downstream.write(`${text}\r\n`, 'latin1');
    this.bytesBefore = downstream.bytesWritten;
    this.upstream = upstream;
    upstream.on('error', () => upstream.destroy());
    upstream.once('close', () => this.socketClosed(downstream));
    if (this.head.length > 0) upstream.write(this.head);
    upstream.pipe(downstream);
    downstream.pipe(upstream);
  }

  /** The upstream response's headers as they go downstream (the connection manager's treatment of any response). */
  private responseHeaders(raw: readonly (string | Buffer)[]): string[] {
    const { info, context, choice } = this.routed;
    const headers: string[] = [];
    copyEndToEnd(raw, headers);
    toDownstreamResponseHeaders(this.hcm, info, context, choice, headers, performance.now() - this.attemptStartMs);
    return headers;
  }

  // The stream's ends.

  private downstreamClosed(): void {
    if (this.upstream !== undefined) return this.socketClosed(this.upstream);
    if (this.released) return;
    // The client went away before the upstream answered.
    const abort = this.abortUpstream;
    this.release();
    abort?.(new Error('downstream closed'));
    const info = this.routed.info;
    info.responseFlag = ResponseFlag.DownstreamConnectionTermination;
    if (info.status === 0) info.status = 499;
    this.hcm.finish(info);
  }

  /**
   * One side of the tunnel closed: the other is ended once what it still has to write is
   * written; when both are closed the stream is finished.
   */
  private socketClosed(other: Duplex): void {
    if (!other.destroyed) (other as Socket).destroySoon();
    if (--this.socketsOpen > 0) return;
    const info = this.routed.info;
    this.release();
    info.bytesSent = this.downstream.bytesWritten - this.bytesBefore;
    this.hcm.finish(info);
  }

  /** stream_idle_timeout: 408 while waiting for the upstream (or a reset of its non-101 answer), else the tunnel closes. */
  streamIdleTimedOut(): void {
    if (this.released) return;
    if (this.upstream !== undefined) {
      // An established tunnel has no response left to answer in: both connections close, and their closes finish the stream.
      this.hcm.noteStreamIdleTimeout(this.routed.info);
      return this.reset();
    }
    this.abandon(new Error('stream idle timeout'));
    this.hcm.streamIdleTimedOut(this.routed.info);
  }

  /** The route timeout fired before the upstream switched protocols (or before its other answer was complete). */
  private timedOut(): void {
    if (this.released) return;
    const { cluster, host } = this.routed;
    if (this.abortUpstream !== undefined && !this.responseStarted) cluster.reportOutcome(host, TIMEOUT);
    cluster.stats.rqTimeout.value++;
    this.abandon(new Error('route timeout'));
    // After a non-101 response's headers went downstream, localReply resets the connection instead.
    this.hcm.localReply(this.routed.info, 504, ResponseFlag.UpstreamRequestTimeout, 'upstream request timeout\n');
  }

  /** max_stream_duration: as for any stream, 408 before a response (UMSDR for the route's limit, DT for the listener's), else a reset. */
  private durationExceeded(routeLevel: boolean): void {
    if (this.released) return;
    const info = this.routed.info;
    info.responseFlag = routeLevel ? ResponseFlag.UpstreamMaxStreamDurationReached : ResponseFlag.DurationTimeout;
    if (this.upstream !== undefined) return this.reset();
    this.abandon(new Error('max stream duration'));
    this.hcm.localReply(info, 408, info.responseFlag, routeLevel ? 'upstream max stream duration reached\n' : 'downstream duration timeout\n');
  }

  /** Gives up on the upstream before its response was accepted (the caller answers downstream). */
  private abandon(reason: Error): void {
    const abort = this.abortUpstream;
    this.release();
    abort?.(reason);
  }

  /** Closes both connections of an established tunnel (each close then finishes the stream). */
  private reset(): void {
    this.upstream!.destroy();
    this.downstream.destroy();
  }

  /** Ends what the stream holds (idempotent): timers, the circuit breaker slot, its host's count, the upgrade gauge. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.routeTimer);
    clearTimeout(this.durationTimer);
    this.downstream.setTimeout(0);
    const { cluster, host, info } = this.routed;
    if (this.attemptStartMs > 0) info.gridMs += performance.now() - this.attemptStartMs;
    cluster.breakers.releaseRequest();
    host.activeRequests--;
    this.hcm.stats.upgradesActive.value--;
  }
}

/** The Upgrade header of the upstream's 101. */
function upgradeOf(raw: readonly (string | Buffer)[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (String(raw[i]).toLowerCase() === 'upgrade') return String(raw[i + 1]);
  }
  return undefined;
}
