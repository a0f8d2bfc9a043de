import type { buildConnector, Pool as PoolType } from 'undici';

// Only the connection pool: undici's index also loads fetch, WebSocket and caches
// (about 9 MB of resident memory a sidecar never uses).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Pool: typeof PoolType = require('undici/lib/dispatcher/pool');
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
  private connectionPool: Pool | undefined;

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
   * Created on the first request: a mesh's config names far more hosts than one
   * sidecar talks to, and memory should follow traffic, not config.
   */
  get pool(): Pool {
    return (this.connectionPool ??= this.createPool());
  }

  private createPool(): Pool {
    const { endpoint, cluster } = this;
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    const limit = (this.poolLimit = this.limitConnections());
    return new Pool(`${this.connector === undefined ? 'http' : 'https'}://${host}:${endpoint.port}`, {
      connections: limit > 0 ? limit : null,
      pipelining: 1,
      keepAliveTimeout: cluster.idleTimeoutMs,
      keepAliveMaxTimeout: cluster.idleTimeoutMs,
      maxRequestsPerClient: cluster.maxRequestsPerConnection || undefined,
      connect: this.connector ?? { timeout: cluster.connectTimeoutMs },
      // The route timeout bounds a request; these would only fire first with other semantics.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Forward any header size the downstream listener accepted.
      maxHeaderSize: 96 * 1024,
    });
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
    return this.connectionPool?.stats.connected ?? 0;
  }

  /** Requests waiting for a connection (queued in the pool, or waiting for their connection to open). */
  get pendingRequests(): number {
    return this.connectionPool?.stats.pending ?? 0;
  }

  async close(): Promise<void> {
    await this.connectionPool?.close();
  }
}
