import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from 'node:http2';
import { Duplex } from 'node:stream';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CounterCell } from '../metrics/metric-family';
import type { SslStats } from '../metrics/proxy-stats';
import type { RouteTable } from '../router/route-table';
import { handshakePeer, setVerifiedPeer } from '../tls/handshake-peer';
import { verifyPeer } from '../tls/peer-verification';
import type { OverloadManager } from '../overload/overload-manager';
import type { TlsMaterial } from '../tls/tls-material';
import { selectFilterChain } from './filter-chain-match';
import { recordSessionSocket } from './downstream-connection';
import type { HttpConnectionManager } from './http-connection-manager';
import type { FilterChainConfig, ListenerConfig } from './listener-config';
import { acceptUpgrade } from './upgrade-tunnel';

/** A TLS ClientHello starts with a handshake record (content type 22): what Envoy's tls_inspector looks for. */
const TLS_HANDSHAKE_RECORD = 0x16;
const TIMEOUT_CHECK_INTERVAL_MS = 250;
/** Envoy's default `listener_filters_timeout`. */
const LISTENER_FILTERS_TIMEOUT_MS = 15_000;
const ignoreError = () => {};
/** The reply to what node's HTTP/1.1 server reports as a client error. */
function clientErrorReply(err: NodeJS.ErrnoException): { status: 400 | 408 | 431; reason: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'request headers too large (max_request_headers_kb)' };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'request timeout (request_headers_timeout / request_timeout)' };
  return { status: 400, reason: `invalid HTTP/1.1 request: ${err.code ?? 'malformed'}${(err as { reason?: string }).reason ? ` (${(err as { reason?: string }).reason})` : ''}` };
}

/** The start of HTTP/2's connection preface (`PRI * HTTP/2.0`), which no HTTP/1.1 request begins with. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2');

/**
 * What the TLS chains offer by ALPN: their `alpn_protocols` in order that meshlet speaks
 * (h2, http/1.1) and their codec allows; with none configured, HTTP/1.1 (Envoy offers none).
 */
function alpnProtocols(chains: readonly FilterChainConfig[]): string[] {
  const offered = new Set<string>();
  for (const chain of chains) {
    for (const protocol of chain.tls?.alpnProtocols ?? []) {
      if ((protocol === 'h2' && chain.hcm.codecType !== 'HTTP1') || (protocol === 'http/1.1' && chain.hcm.codecType !== 'HTTP2')) offered.add(protocol);
    }
  }
  return offered.size > 0 ? [...offered] : ['http/1.1'];
}

/**
 * One filter chain at run time: its codecs (node:http for HTTP/1.1, node:http2 created when a
 * first HTTP/2 connection comes; both fed the connections the listener gives them, neither
 * listening itself) and its connection manager.
 */
class FilterChain {
  readonly http: HttpServer;
  private h2: Http2Server | undefined;
  /** HTTP/2 sessions, closed gracefully (GOAWAY) when draining. */
  private readonly sessions = new Set<Http2Session>();
  readonly sockets = new Set<Socket>();
  /** Connection managers replaced by an update while they still had requests in flight. */
  readonly retired = new Set<HttpConnectionManager>();

  constructor(
    public config: FilterChainConfig,
    public hcm: HttpConnectionManager,
  ) {
    // node checks header/request timeouts on an interval (30 s by default): often enough for
    // request_headers_timeout to mean what it says, at the cost of a walk over the connections.
    this.http = createHttpServer({ noDelay: true, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS }, (req, res) => this.hcm.handle(req, res));
    // Upgraded connections stay in `sockets` (and the listener's `accepted`) until they close, so a drain ends them too.
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => acceptUpgrade(this.http, this.hcm, req, socket, head));
    // node starts its header/request timeout checks when a server starts listening; this one never binds.
    this.http.emit('listening');
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.refuse(err, socket));
    this.applyServerOptions();
  }

  get match() {
    return this.config.match;
  }

  get tls(): TlsMaterial | undefined {
    return this.hcm.tls;
  }

  /**
   * What node's HTTP/1.1 parser refused (a smuggling attempt, a malformed request, headers over
   * max_request_headers_kb) or timed out (request_headers_timeout, request_timeout): a reply with
   * the reason, counted, and the connection closed; nothing of it went upstream.
   */
  private refuse(err: NodeJS.ErrnoException, socket: Socket): void {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    // A peer that went away, or one already refused, is no new refusal.
    if (!socket.writable || err.code === 'ECONNRESET' || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    if (inFlight !== undefined && !inFlight.writableEnded && (inFlight as ServerResponse & { req: IncomingMessage }).req.complete) {
      // A later pipelined request went bad while a complete earlier one is answered: that answer goes
      // out whole (the client must not think a request that ran has failed), then the connection
      // closes. (An error in the in-flight request's own body is refused below: it must not go on.)
      this.hcm.stats.protocolError.value++;
      inFlight.shouldKeepAlive = false;
      inFlight.once('finish', () => socket.destroySoon());
      return;
    }
    const { status, reason } = clientErrorReply(err);
    if (status === 408) this.hcm.stats.rqTimeout.value++;
    else this.hcm.stats.protocolError.value++;
    const body = `${reason}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `server: ${this.hcm.config.serverName}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  /** `http2`: the connection speaks HTTP/2 (ALPN h2, or the h2c preface). */
  accept(socket: Socket, http2: boolean): void {
    this.hcm.stats.cxTotal.value++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (!http2) {
      // node's HTTP/1.1 server times a socket out for keep-alive idleness; while a response is in
      // flight the timeout is its stream's idle timeout (stream-idle-timeout.ts), counted there.
      socket.on('timeout', () => {
        if ((socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage == null) this.hcm.stats.cxIdleTimeout.value++;
      });
      this.http.emit('connection', socket);
      // Paused while the listener peeked at it.
      socket.resume();
      return;
    }
    const h2 = (this.h2 ??= this.createHttp2Server());
    // node's HTTP/2 reads a plain socket's handle directly and would miss the bytes the listener
    // peeked at and put back: a stream wrapper reads them first. A TLS socket has them already.
    this.connecting = socket;
    h2.emit('connection', socket instanceof TLSSocket ? socket : Duplex.from({ readable: socket, writable: socket }));
    this.connecting = undefined;
  }

  /** The socket being handed to the HTTP/2 server: its 'session' event comes synchronously. */
  private connecting: Socket | undefined;

  private createHttp2Server(): Http2Server {
    const h2 = createHttp2Server((req, res) => this.hcm.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse));
    h2.on('session', (session: Http2Session) => {
      recordSessionSocket(session, this.connecting!);
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      if (this.hcm.draining) session.close();
    });
    return h2;
  }

  get activeRequests(): number {
    let active = this.hcm.activeRequests;
    for (const old of this.retired) {
      if (old.activeRequests === 0) this.retired.delete(old);
      else active += old.activeRequests;
    }
    return active;
  }

  update(config: FilterChainConfig, hcm: HttpConnectionManager): void {
    const previous = this.hcm;
    this.config = config;
    this.hcm = hcm;
    this.applyServerOptions();
    if (previous.activeRequests > 0) this.retired.add(previous);
    previous.accessLog.flush();
  }

  setRouteTable(routeTable: RouteTable): void {
    this.config = { ...this.config, hcm: { ...this.config.hcm, routeTable } };
    this.hcm.config = this.config.hcm;
  }

  startDraining(): void {
    this.hcm.draining = true;
    for (const old of this.retired) old.draining = true;
    this.http.closeIdleConnections();
    // GOAWAY: streams in flight finish, no new ones start.
    for (const session of this.sessions) session.close();
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    // Stops node's timeout checks; the server never listened, which close() reports to its callback.
    this.http.close(() => {});
    this.hcm.tls?.close();
  }

  /** node reads these per connection (headers size) or per check (timeouts), so updates apply to what comes next. */
  private applyServerOptions(): void {
    const hcmConfig = this.config.hcm;
    this.http.keepAliveTimeout = hcmConfig.idleTimeoutMs;
    this.http.requestTimeout = hcmConfig.requestTimeoutMs;
    // node needs a positive headers timeout; Envoy's "0 = off" becomes "as long as the request timeout allows".
    this.http.headersTimeout = hcmConfig.requestHeadersTimeoutMs || hcmConfig.requestTimeoutMs || 60_000;
    (this.http as HttpServer & { maxHeaderSize: number }).maxHeaderSize = hcmConfig.maxRequestHeadersKb * 1024;
    // node drops headers past maxHeadersCount silently; one more than the limit lets the request be refused (431) instead.
    this.http.maxHeadersCount = hcmConfig.requestLimits.maxHeadersCount + 1;
  }
}

/** What a listener counts and logs with, shared by its versions. */
export interface ListenerObservers {
  readonly ssl: SslStats;
  readonly noFilterChainMatch: CounterCell;
  readonly globalCxOverflow: CounterCell;
  readonly overload: OverloadManager;
  readonly log: Logger;
}

/**
 * A bound downstream socket and its filter chains. Each new connection is given to one chain,
 * chosen as Envoy does (filter-chain-match.ts): with the TLS inspector, the first byte tells TLS
 * from plaintext, and SNI picks among TLS chains. TLS chains share one handshake server, whose
 * certificate follows SDS rotation for new connections while open ones go on; a peer that fails
 * verification is closed, counted and logged with the exact reason.
 *
 * Config updates keep the socket and its connections: each request goes to the connection
 * manager current when it arrives, and requests in flight finish on the one they started with.
 */
export class HttpListener {
  private readonly server: NetServer;
  private chains: FilterChain[];
  /** Chains dropped by an update, finishing their connections' requests. */
  private readonly dropped = new Set<FilterChain>();
  private tlsServer: TlsServer | undefined;
  /** Every accepted socket, in whatever stage (inspecting, handshaking, serving), so drain can close them all. */
  private readonly accepted = new Set<Socket>();
  private readonly stopWatching: (() => void)[] = [];

  constructor(
    public config: ListenerConfig,
    hcms: readonly HttpConnectionManager[],
    private readonly observers: ListenerObservers,
  ) {
    this.chains = config.chains.map((chain, i) => new FilterChain(chain, hcms[i]!));
    this.server = createNetServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.configureTls();
  }

  get connectionCount(): number {
    let count = 0;
    for (const chain of this.allChains()) count += chain.sockets.size;
    return count;
  }

  /** Requests in flight on this listener, including those on replaced connection managers. */
  get activeRequests(): number {
    let active = 0;
    for (const chain of this.allChains()) active += chain.activeRequests;
    return active;
  }

  /** Per chain (dropped ones too): its stat prefix, open connections and requests in flight, for the gauges. */
  *chainStats(): Iterable<{ statPrefix: string; connections: number; activeRequests: number }> {
    for (const chain of this.allChains()) yield { statPrefix: chain.config.hcm.statPrefix, connections: chain.sockets.size, activeRequests: chain.activeRequests };
  }

  /** The connection managers serving new requests, in chain order. */
  get connectionManagers(): readonly HttpConnectionManager[] {
    return this.chains.map((c) => c.hcm);
  }

  /** The bound port (useful when the config says port 0). */
  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.config.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new Error(`listener "${this.config.name}" cannot bind ${this.config.address}:${this.config.port}: ${err.code ?? err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.config.port, this.config.address, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /**
   * A new config for the same address (LDS update): chain by chain, later requests (on open
   * connections too) use the new connection managers; chains no longer there finish what they have.
   */
  update(config: ListenerConfig, hcms: readonly HttpConnectionManager[]): void {
    const previous = this.chains;
    this.config = config;
    this.chains = config.chains.map((chain, i) => {
      const existing = previous[i];
      if (existing === undefined) return new FilterChain(chain, hcms[i]!);
      const oldTls = existing.tls;
      existing.update(chain, hcms[i]!);
      if (oldTls !== existing.tls) oldTls?.close();
      return existing;
    });
    for (const chain of previous.slice(config.chains.length)) {
      chain.startDraining();
      this.dropped.add(chain);
    }
    this.configureTls();
  }

  /** New routes (RDS update), per chain: swapped whole, so a request sees either the old or the new table. */
  setRouteTables(routeTables: readonly RouteTable[]): void {
    this.config = { ...this.config, chains: this.config.chains.map((chain, i) => ({ ...chain, hcm: { ...chain.hcm, routeTable: routeTables[i]! } })) };
    this.chains.forEach((chain, i) => chain.setRouteTable(routeTables[i]!));
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `timeoutMs`
   * (responses meanwhile carry `connection: close`), then closes what is left.
   */
  async drain(timeoutMs: number): Promise<void> {
    for (const chain of this.allChains()) chain.startDraining();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (this.activeRequests > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      for (const chain of this.allChains()) chain.http.closeIdleConnections();
    }
    for (const chain of this.allChains()) chain.close();
    for (const socket of this.accepted) socket.destroy();
    for (const stop of this.stopWatching) stop();
    await closed;
  }

  private *allChains(): Iterable<FilterChain> {
    yield* this.chains;
    for (const chain of this.dropped) {
      if (chain.sockets.size === 0) {
        chain.close();
        this.dropped.delete(chain);
      } else yield chain;
    }
  }

  private onConnection(socket: Socket): void {
    // Until a codec owns the socket, its errors (a reset while inspecting) only close it.
    socket.on('error', ignoreError);
    const overload = this.observers.overload;
    if (!overload.admitConnection()) {
      this.observers.globalCxOverflow.value++;
      socket.destroy();
      return;
    }
    this.accepted.add(socket);
    socket.once('close', () => {
      this.accepted.delete(socket);
      overload.connectionClosed();
    });
    if (!this.inspect) return this.dispatch(socket, 'raw_buffer', false);
    // Envoy's listener_filters_timeout: a connection that says nothing does not hold a socket forever.
    // A peer that says nothing for the timeout, or hangs up first, is let go (the server is half-open capable).
    const silent = () => socket.destroy();
    socket.setTimeout(LISTENER_FILTERS_TIMEOUT_MS, silent);
    socket.once('end', silent);
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.off('end', silent);
      socket.pause();
      socket.unshift(first);
      // Whoever takes the socket reads the unshifted bytes: node:http resumes it, the TLS socket reads its buffer.
      const tls = this.config.tlsInspector && first[0] === TLS_HANDSHAKE_RECORD;
      this.dispatch(socket, tls ? 'tls' : 'raw_buffer', !tls && first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE));
    });
  }

  /**
   * Whether a new connection's first bytes are read before it is given to a chain: to tell TLS
   * from plaintext (the TLS inspector), and HTTP/2 with prior knowledge from HTTP/1.1 (Envoy's
   * codec_type AUTO) on plaintext chains.
   */
  private inspect = false;

  /** Before any handshake: a plaintext chain takes the connection, or it goes to the TLS handshake (the chain is chosen after, by SNI). */
  private dispatch(socket: Socket, transportProtocol: 'tls' | 'raw_buffer', h2Preface: boolean): void {
    const tlsChains = this.chains.filter((c) => c.tls !== undefined && c.match.transportProtocol !== (transportProtocol === 'tls' ? 'raw_buffer' : 'tls'));
    const chain = selectFilterChain(this.chains, { transportProtocol, serverName: undefined });
    if (this.tlsServer !== undefined && (chain?.tls !== undefined || (transportProtocol === 'tls' && tlsChains.length > 0))) {
      this.tlsServer.emit('connection', socket);
    } else if (chain !== undefined && chain.tls === undefined) {
      const codec = chain.config.hcm.codecType;
      chain.accept(socket, codec === 'HTTP2' || (codec === 'AUTO' && h2Preface));
    } else {
      this.observers.noFilterChainMatch.value++;
      socket.destroy();
    }
  }

  /** After the handshake: the chain for this SNI verifies the peer as its validation context says. */
  private onSecureConnection(socket: TLSSocket): void {
    const chain = this.tlsChainFor(socket.servername || undefined);
    const tls = chain?.tls?.current;
    if (chain === undefined || tls === undefined) {
      this.observers.noFilterChainMatch.value++;
      socket.destroy();
      return;
    }
    const { peer, identity } = handshakePeer(socket);
    const verdict = verifyPeer(peer, tls.requirement);
    if (!verdict.ok) {
      this.observers.ssl.failVerify(verdict.reason);
      this.observers.log.warn(
        { listener: this.config.name, chain: chain.config.name, peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: verdict.reason, peerSans: identity?.uriSans },
        `TLS peer refused: ${verdict.detail}`,
      );
      socket.destroy();
      return;
    }
    this.observers.ssl.handshake.value++;
    if (identity !== undefined) setVerifiedPeer(socket, identity);
    chain.accept(socket, socket.alpnProtocol === 'h2' && chain.config.hcm.codecType !== 'HTTP1');
  }

  private tlsChainFor(serverName: string | undefined): FilterChain | undefined {
    const chain = selectFilterChain(this.chains, {
      transportProtocol: this.config.tlsInspector ? 'tls' : 'raw_buffer',
      serverName: this.config.tlsInspector ? serverName : undefined,
    });
    return chain?.tls === undefined ? undefined : chain;
  }

  /**
   * One handshake server for the TLS chains: the default certificate is the chain a connection
   * without SNI gets; with server_names, SNI selects the chain's certificate. Client certificates
   * are requested when a chain validates them, and verified after the handshake (verifyPeer), so
   * the refusal has a reason to count and log.
   */
  private configureTls(): void {
    // Decided per config, not per connection.
    this.inspect = this.config.tlsInspector || this.config.chains.some((c) => c.tls === undefined && c.hcm.codecType !== 'HTTP1');
    for (const stop of this.stopWatching.splice(0)) stop();
    const tlsChains = this.chains.filter((c) => c.tls !== undefined);
    if (tlsChains.length === 0) {
      this.tlsServer = undefined;
      return;
    }
    const requestCert = tlsChains.some((c) => c.tls!.config.validation !== undefined || c.tls!.config.defaultValidation !== undefined);
    const bySni = tlsChains.some((c) => c.match.serverNames.length > 0);
    const server = new TlsServer({
      requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: alpnProtocols(tlsChains.map((c) => c.config)),
      // As Envoy, an SNI that no chain names ends the handshake before any certificate is shown.
      SNICallback: bySni
        ? (name, callback) => {
            const context = this.tlsChainFor(name)?.tls?.current?.secureContext;
            if (context === undefined) callback(new Error(`no filter chain for server name "${name}"`), undefined);
            else callback(null, context);
          }
        : undefined,
    });
    // Without a chain for connections that send no SNI, the server has no certificate: their handshake fails.
    const defaultChain = this.tlsChainFor(undefined);
    if (defaultChain !== undefined) {
      const applyDefault = () => {
        const current = defaultChain.tls!.current;
        if (current !== undefined) server.setSecureContext(current.contextOptions);
      };
      applyDefault();
      this.stopWatching.push(defaultChain.tls!.onChange(applyDefault));
    }
    server.on('secureConnection', (socket: TLSSocket) => this.onSecureConnection(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const serverName = (socket as TLSSocket & { servername?: string | false }).servername || undefined;
      if (this.tlsChainFor(serverName) === undefined) this.observers.noFilterChainMatch.value++;
      else this.observers.ssl.connectionError.value++;
      socket.destroy();
      this.observers.log.debug({ listener: this.config.name, peer: `${socket.remoteAddress}:${socket.remotePort}`, err: err.code ?? err.message }, 'TLS handshake failed');
    });
    this.tlsServer = server;
  }
}
