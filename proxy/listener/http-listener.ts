import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpConnectionManager } from './http-connection-manager';
import type { ListenerConfig } from './listener-config';

/**
 * A bound downstream socket with its HTTP/1.1 codec (node:http) in front of an
 * HTTP connection manager. Owns the connections, so it can drain them.
 */
export class HttpListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    public config: ListenerConfig,
    readonly hcm: HttpConnectionManager,
  ) {
    const hcmConfig = config.hcm;
    this.server = createServer(
      {
        keepAliveTimeout: hcmConfig.idleTimeoutMs,
        requestTimeout: hcmConfig.requestTimeoutMs,
        // node needs a positive headers timeout; Envoy's "0 = off" becomes "as long as the request timeout allows".
        headersTimeout: hcmConfig.requestHeadersTimeoutMs || hcmConfig.requestTimeoutMs || 60_000,
        maxHeaderSize: hcmConfig.maxRequestHeadersKb * 1024,
        noDelay: true,
      },
      (req, res) => this.hcm.handle(req, res),
    );
    this.server.on('connection', (socket: Socket) => {
      this.hcm.stats.cxTotal.value++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get connectionCount(): number {
    return this.sockets.size;
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
   * Stops accepting, lets in-flight requests finish for up to `timeoutMs`
   * (responses meanwhile carry `connection: close`), then closes what is left.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.hcm.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.hcm.activeRequests > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.server.closeIdleConnections();
    }
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
