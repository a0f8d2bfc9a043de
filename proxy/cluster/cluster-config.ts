import type { LoadBalancerOptions } from '../balancer/load-balancer';
import type { UpstreamTlsConfig } from '../tls/tls-config';
import type { CircuitBreakerThresholds } from './circuit-breakers';
import type { HealthCheckConfig } from './health-checker';
import type { OutlierDetectionConfig } from './outlier-detector';

/** How a cluster finds its endpoints (Envoy's `Cluster.type`). */
export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS';

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

/** A ClusterLoadAssignment as parsed once (a cluster's `load_assignment`, or an EDS resource); immutable. */
export interface EndpointAssignment {
  readonly endpoints: readonly EndpointConfig[];
  /** `policy.overprovisioning_factor`; undefined for Envoy's default (140). */
  readonly overprovisioningFactor: number | undefined;
}

/** What the cluster speaks upstream: HttpProtocolOptions' explicit HTTP/1.1 or HTTP/2, or the downstream's protocol. */
export type UpstreamProtocol = 'http1' | 'http2' | 'downstream';

/** HTTP/2 PINGs (Envoy's connection_keepalive). */
export interface Http2Keepalive {
  readonly intervalMs: number;
  /** Unanswered this long, the connection is dropped. */
  readonly timeoutMs: number;
}

/** A cluster as parsed once from config; immutable. */
export interface ClusterConfig {
  readonly name: string;
  readonly type: DiscoveryType;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: string;
  readonly lbOptions: LoadBalancerOptions;
  /** From `load_assignment`; empty for EDS clusters, whose endpoints arrive as EndpointAssignments. */
  readonly endpoints: readonly EndpointConfig[];
  /** The ClusterLoadAssignment name an EDS cluster subscribes to (`eds_cluster_config.service_name`, else the cluster name). */
  readonly edsServiceName: string | undefined;
  /** STRICT_DNS / LOGICAL_DNS re-resolution period. */
  readonly dnsRefreshRateMs: number;
  readonly dnsFamily: 0 | 4 | 6;
  /** Upstream keep-alive: shorter than the apps' own idle timeout, so the proxy closes first (no keep-alive race). */
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly upstreamProtocol: UpstreamProtocol;
  /** Of the ADS cluster only (its gRPC channel's PINGs); undefined = none, Envoy's default. */
  readonly http2Keepalive: Http2Keepalive | undefined;
  /** The DEFAULT-priority circuit breakers' `max_connections` (cluster-wide). */
  readonly maxConnections: number;
  /** `circuit_breakers.thresholds[]` for priority DEFAULT (Envoy's defaults when absent). */
  readonly circuitBreakers: CircuitBreakerThresholds;
  /** Priority HIGH thresholds: parsed and shown, but meshlet's routes are all DEFAULT priority. */
  readonly circuitBreakersHigh: CircuitBreakerThresholds | undefined;
  /** `circuit_breakers.per_host_thresholds[].max_connections` (DEFAULT priority); undefined = no per-host limit. */
  readonly perHostMaxConnections: number | undefined;
  /** `outlier_detection`; undefined = no outlier detection. */
  readonly outlierDetection: OutlierDetectionConfig | undefined;
  /** `health_checks[0]`; undefined = no active health checking. */
  readonly healthCheck: HealthCheckConfig | undefined;
  /** `transport_socket` envoy.transport_sockets.tls; undefined = plaintext. */
  readonly tls: UpstreamTlsConfig | undefined;
  /** The decoded Envoy Cluster, for /config_dump. */
  readonly source: unknown;
}
