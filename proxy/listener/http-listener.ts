import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer, type SecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CounterCell } from '../metrics/metric-family';
import type { SslStats } from '../metrics/proxy-stats';
import type { RouteTable } from '../router/route-table';
import { handshakePeer, setVerifiedPeer } from '../tls/handshake-peer';
import { verifyPeer } from '../tls/peer-verification';
import type { TlsMaterial } from '../tls/tls-material';
import { selectFilterChain } from './filter-chain-match';
import type { HttpConnectionManager } from './http-connection-manager';
import type { FilterChainConfig, ListenerConfig } from './listener-config';

/** A TLS ClientHello starts with a handshake record (content type 22): what Envoy's tls_inspector looks for. */
const TLS_HANDSHAKE_RECORD = 0x16;
/** Envoy's default `listener_filters_timeout`. */
const LISTENER_FILTERS_TIMEOUT_MS = 15_000;
const ignoreError = () => {};

/** One filter chain at run time: its HTTP/1.1 codec (node:http, fed the connections the listener gives it) and its connection manager. */
class FilterChain {
  readonly http: HttpServer;
  readonly sockets = new Set<Socket>();
  /** Connection managers replaced by an update while they still had requests in flight. */
  readonly retired = new Set<HttpConnectionManager>();

  constructor(
    public config: FilterChainConfig,
    public hcm: HttpConnectionManager,
  ) {
    this.http = createHttpServer({ noDelay: true }, (req, res) => this.hcm.handle(req, res));
    // node starts its header/request timeout checks when a server starts listening; this one never binds.
    this.http.emit('listening');
    this.applyServerOptions();
  }

  get match() {
    return this.config.match;
  }

  get tls(): TlsMaterial | undefined {
    return this.hcm.tls;
  }

  accept(socket: Socket): void {
    this.hcm.stats.cxTotal.value++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.http.emit('connection', socket);
    // Paused while the TLS inspector peeked at it.
    socket.resume();
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
  }
}

/** What a listener counts and logs with, shared by its versions. */
export interface ListenerObservers {
  readonly ssl: SslStats;
  readonly noFilterChainMatch: CounterCell;
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
    this.accepted.add(socket);
    socket.once('close', () => this.accepted.delete(socket));
    if (!this.config.tlsInspector) return this.dispatch(socket, 'raw_buffer');
    // Envoy's listener_filters_timeout: a connection that says nothing does not hold a socket forever.
    socket.setTimeout(LISTENER_FILTERS_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      // Whoever takes the socket reads the unshifted bytes: node:http resumes it, the TLS socket reads its buffer.
      this.dispatch(socket, first[0] === TLS_HANDSHAKE_RECORD ? 'tls' : 'raw_buffer');
    });
  }

  /** Before any handshake: a plaintext chain takes the connection, or it goes to the TLS handshake (the chain is chosen after, by SNI). */
  private dispatch(socket: Socket, transportProtocol: 'tls' | 'raw_buffer'): void {
    const tlsChains = this.chains.filter((c) => c.tls !== undefined && c.match.transportProtocol !== (transportProtocol === 'tls' ? 'raw_buffer' : 'tls'));
    const chain = selectFilterChain(this.chains, { transportProtocol, serverName: undefined });
    if (this.tlsServer !== undefined && (chain?.tls !== undefined || (transportProtocol === 'tls' && tlsChains.length > 0))) {
      this.tlsServer.emit('connection', socket);
    } else if (chain !== undefined && chain.tls === undefined) {
      chain.accept(socket);
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
    chain.accept(socket);
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
    for (const stop of this.stopWatching.splice(0)) stop();
    const tlsChains = this.chains.filter((c) => c.tls !== undefined);
    if (tlsChains.length === 0) {
      this.tlsServer = undefined;
      return;
    }
    const requestCert = tlsChains.some((c) => c.tls!.config.validation !== undefined || c.tls!.config.defaultValidation !== undefined);
    const bySni = tlsChains.some((c) => c.match.serverNames.length > 0);
    const alpn = tlsChains[0]!.tls!.config.alpnProtocols;
    const server = new TlsServer({
      requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: alpn.length > 0 ? alpn.filter((p) => p === 'http/1.1') : ['http/1.1'],
      SNICallback: bySni ? (name, callback) => callback(null, this.tlsChainFor(name)?.tls?.current?.secureContext as SecureContext) : undefined,
    });
    const defaultChain = this.tlsChainFor(undefined) ?? tlsChains[0]!;
    const applyDefault = () => {
      const current = defaultChain.tls!.current;
      if (current !== undefined) server.setSecureContext(current.contextOptions);
    };
    applyDefault();
    this.stopWatching.push(defaultChain.tls!.onChange(applyDefault));
    server.on('secureConnection', (socket: TLSSocket) => this.onSecureConnection(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.observers.ssl.connectionError.value++;
      socket.destroy();
      this.observers.log.debug({ listener: this.config.name, peer: `${socket.remoteAddress}:${socket.remotePort}`, err: err.code ?? err.message }, 'TLS handshake failed');
    });
    this.tlsServer = server;
  }
}
