import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { RouteTable } from '../router/route-table';
import type { HttpConnectionManager } from './http-connection-manager';
import type { ListenerConfig } from './listener-config';

/**
 * A bound downstream socket with its HTTP/1.1 codec (node:http) in front of an
 * HTTP connection manager. Owns the connections, so it can drain them.
 *
 * Config updates keep the socket and its connections: each request goes to the
 * connection manager current when it arrives, and requests in flight finish on
 * the one they started with.
 */
export class HttpListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Connection managers replaced by an update while they still had requests in flight. */
  private readonly retired = new Set<HttpConnectionManager>();

  constructor(
    public config: ListenerConfig,
    public hcm: HttpConnectionManager,
  ) {
    this.server = createServer({ noDelay: true }, (req, res) => this.hcm.handle(req, res));
    this.applyServerOptions();
    this.server.on('connection', (socket: Socket) => {
      this.hcm.stats.cxTotal.value++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Requests in flight on this listener, including those on replaced connection managers. */
  get activeRequests(): number {
    let active = this.hcm.activeRequests;
    for (const old of this.retired) {
      if (old.activeRequests === 0) this.retired.delete(old);
      else active += old.activeRequests;
    }
    return active;
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

  /** A new config for the same address (LDS update): later requests, on open connections too, use `hcm`. */
  update(config: ListenerConfig, hcm: HttpConnectionManager): void {
    const previous = this.hcm;
    this.config = config;
    this.hcm = hcm;
    this.applyServerOptions();
    if (previous.activeRequests > 0) this.retired.add(previous);
    previous.accessLog.flush();
  }

  /** New routes (RDS update): swapped whole, so a request sees either the old or the new table. */
  setRouteTable(routeTable: RouteTable): void {
    this.config = { ...this.config, hcm: { ...this.config.hcm, routeTable } };
    this.hcm.config = this.config.hcm;
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `timeoutMs`
   * (responses meanwhile carry `connection: close`), then closes what is left.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.hcm.draining = true;
    for (const old of this.retired) old.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.activeRequests > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.server.closeIdleConnections();
    }
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** node reads these per connection (headers size) or per check (timeouts), so updates apply to what comes next. */
  private applyServerOptions(): void {
    const hcmConfig = this.config.hcm;
    this.server.keepAliveTimeout = hcmConfig.idleTimeoutMs;
    this.server.requestTimeout = hcmConfig.requestTimeoutMs;
    // node needs a positive headers timeout; Envoy's "0 = off" becomes "as long as the request timeout allows".
    this.server.headersTimeout = hcmConfig.requestHeadersTimeoutMs || hcmConfig.requestTimeoutMs || 60_000;
    (this.server as Server & { maxHeaderSize: number }).maxHeaderSize = hcmConfig.maxRequestHeadersKb * 1024;
  }
}
