import type { Pool as PoolType } from 'undici';

// Only the connection pool: undici's index also loads fetch, WebSocket and caches
// (about 9 MB of resident memory a sidecar never uses).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Pool: typeof PoolType = require('undici/lib/dispatcher/pool');
type Pool = PoolType;
import type { BalancerHost } from '../balancer/host';
import type { ClusterConfig, EndpointConfig } from './cluster-config';

/**
 * One endpoint of a cluster: what the balancer sees, plus the keep-alive pool to it.
 * Hosts are shared across config updates of the same cluster when their address is
 * unchanged, so an update does not drop warm connections.
 */
export class UpstreamHost implements BalancerHost {
  readonly key: string;
  activeRequests = 0;
  healthy: boolean;
  private connectionPool: Pool | undefined;

  constructor(
    readonly endpoint: EndpointConfig,
    private readonly cluster: ClusterConfig,
  ) {
    this.key = `${endpoint.address}:${endpoint.port}`;
    this.healthy = endpoint.healthy;
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
    return new Pool(`http://${host}:${endpoint.port}`, {
      connections: cluster.maxConnections || null,
      pipelining: 1,
      keepAliveTimeout: cluster.idleTimeoutMs,
      keepAliveMaxTimeout: cluster.idleTimeoutMs,
      maxRequestsPerClient: cluster.maxRequestsPerConnection || undefined,
      connect: { timeout: cluster.connectTimeoutMs },
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

  async close(): Promise<void> {
    await this.connectionPool?.close();
  }
}
