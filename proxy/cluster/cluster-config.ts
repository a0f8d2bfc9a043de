import type { LoadBalancerOptions } from '../balancer/load-balancer';

/** How a cluster finds its endpoints (Envoy's `Cluster.type`; EDS comes with xDS). */
export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS';

/** One `lb_endpoints[]` entry, flattened with its locality. */
export interface EndpointConfig {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
  readonly locality: string;
  readonly localityWeight: number;
  /** Envoy's `health_status`; only UNHEALTHY/DRAINING/TIMEOUT exclude the host. */
  readonly healthy: boolean;
}

/** A cluster as parsed once from config; immutable. */
export interface ClusterConfig {
  readonly name: string;
  readonly type: DiscoveryType;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: string;
  readonly lbOptions: LoadBalancerOptions;
  readonly endpoints: readonly EndpointConfig[];
  /** STRICT_DNS / LOGICAL_DNS re-resolution period. */
  readonly dnsRefreshRateMs: number;
  readonly dnsFamily: 0 | 4 | 6;
  /** Upstream keep-alive: shorter than the apps' own idle timeout, so the proxy closes first (no keep-alive race). */
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly maxConnections: number;
  /** The decoded Envoy Cluster, for /config_dump. */
  readonly source: unknown;
}
