import type { buildConnector, Client as ClientType, Dispatcher, Pool as PoolType } from 'undici';

// Only the pool and the client: undici's index also loads fetch, WebSocket and caches
// (about 9 MB of resident memory a sidecar never uses).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Pool: typeof PoolType = require('undici/lib/dispatcher/pool');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Client: typeof ClientType = require('undici/lib/dispatcher/client');
type Pool = PoolType;
import type { BalancerHost } from '../balancer/host';
import type { ClusterConfig, EndpointConfig } from './cluster-config';
import { FAILED_FLAGS, HealthFlag } from './health-flags';

/**
 * One endpoint of a cluster: what the balancer sees, plus the keep-alive pool to it.
 * Hosts are shared across config updates of the same cluster when their address is
 * unchanged, so an update does not drop warm connections.
 */
export class UpstreamHost implements BalancerHost {
  readonly key: string;
  activeRequests = 0;
  /** Envoy's health flags (HealthFlag bits); the host is healthy when no FAILED_* flag is set. */
  healthFlags: number;
  /** The pool's size, fixed when the pool is created; undefined before. */
  private poolLimit: number | undefined;
  /** [HTTP/1.1, HTTP/2]: a cluster using the downstream's protocol can need both. */
  private readonly pools: [Pool | undefined, Pool | undefined] = [undefined, undefined];

  constructor(
    readonly endpoint: EndpointConfig,
    private readonly cluster: ClusterConfig,
    /** Called once, when the pool is created: the most connections this host may open. */
    private readonly limitConnections: () => number = () => cluster.maxConnections,
    /** The cluster's TLS connector; undefined for plaintext. */
    private readonly connector?: buildConnector.connector,
  ) {
    this.key = `${endpoint.address}:${endpoint.port}`;
    this.healthFlags = endpoint.healthy ? 0 : HealthFlag.FAILED_EDS_HEALTH;
  }

  /** The most connections this host's pool opens (requests beyond wait in its queue). */
  get connectionLimit(): number {
    const limit = this.poolLimit ?? this.limitConnections();
    return limit > 0 ? limit : Infinity;
  }

  /** Not failed by EDS health, active health checking or outlier detection (what the balancer reads). */
  get healthy(): boolean {
    return (this.healthFlags & FAILED_FLAGS) === 0;
  }

  hasFlag(flag: number): boolean {
    return (this.healthFlags & flag) !== 0;
  }

  /** Sets or clears `flag`; true when the host's healthy/unhealthy state changed. */
  setFlag(flag: number, on: boolean): boolean {
    const wasHealthy = this.healthy;
    this.healthFlags = on ? this.healthFlags | flag : this.healthFlags & ~flag;
    return wasHealthy !== this.healthy;
  }

  /**
   * The pool for HTTP/1.1 or HTTP/2, created on the first request that needs it: a mesh's config
   * names far more hosts than one sidecar talks to, and memory should follow traffic, not config.
   */
  pool(http2: boolean): Pool {
    const index = http2 ? 1 : 0;
    return (this.pools[index] ??= new Pool(this.origin, this.dispatcherOptions(http2, (this.poolLimit ??= this.limitConnections()))));
  }

  /**
   * A client of its own for one request (closed after it), for the keep-alive race resend: the
   * pool could hand out another idle connection the upstream is closing just as well. Outside
   * the pool, so outside its connection limit: one extra connection, for one request, rarely.
   */
  dispatchOnNewConnection(http2: boolean, options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const client = new Client(this.origin, this.dispatcherOptions(http2, 1));
    client.dispatch({ ...options, reset: true }, handler);
    // Resolves once the request is done; the connection closes with it (`connection: close`).
    client.close().catch(() => undefined);
  }

  private get origin(): string {
    const { address, port } = this.endpoint;
    return `${this.connector === undefined ? 'http' : 'https'}://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  private dispatcherOptions(http2: boolean, limit: number): PoolType.Options {
    const { cluster } = this;
    return {
      connections: limit > 0 ? limit : null,
      pipelining: 1,
      keepAliveTimeout: cluster.idleTimeoutMs,
      keepAliveMaxTimeout: cluster.idleTimeoutMs,
      maxRequestsPerClient: cluster.maxRequestsPerConnection || undefined,
      // HTTP/2 over TLS is chosen by ALPN (the TLS connector offers h2); in plaintext it is spoken
      // with prior knowledge (undici's connector option `useH2c`, which its typings do not list yet).
      connect: this.connector ?? ({ timeout: cluster.connectTimeoutMs, useH2c: http2 } as PoolType.Options['connect']),
      allowH2: http2,
      // The route timeout bounds a request; these would only fire first with other semantics.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Forward any header size the downstream listener accepted.
      maxHeaderSize: 96 * 1024,
    };
  }

  get weight(): number {
    return this.endpoint.weight;
  }
  get priority(): number {
    return this.endpoint.priority;
  }
  get locality(): string {
    return this.endpoint.locality;
  }
  get localityWeight(): number {
    return this.endpoint.localityWeight;
  }

  /** Connections currently open to this host. */
  get connections(): number {
    return (this.pools[0]?.stats.connected ?? 0) + (this.pools[1]?.stats.connected ?? 0);
  }

  /** Requests waiting for a connection (queued in the pool, or waiting for their connection to open). */
  get pendingRequests(): number {
    return (this.pools[0]?.stats.pending ?? 0) + (this.pools[1]?.stats.pending ?? 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool?.close()));
  }
}
