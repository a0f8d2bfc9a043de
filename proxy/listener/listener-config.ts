import type { RbacFilter } from '../http-filter/rbac-policy';
import type { ClientCertFields, ForwardClientCertDetails } from '../http-filter/client-cert-header';
import type { RouteTable } from '../router/route-table';
import type { DownstreamTlsConfig } from '../tls/tls-config';
import type { FilterChainMatch } from './filter-chain-match';
import type { RequestLimits } from './request-validation';
import type { PathNormalizationConfig } from '../router/path-normalization';

/** Where an access log goes (Envoy's stdout/stderr/file access loggers). */
export interface AccessLogConfig {
  readonly sink: 'stdout' | 'stderr' | 'file';
  readonly path?: string;
}

/** An HTTP connection manager as parsed once from config; immutable. */
export interface HttpConnectionManagerConfig {
  readonly statPrefix: string;
  /** `codec_type`: AUTO takes HTTP/1.1 and HTTP/2 (ALPN over TLS, the connection preface in plaintext). */
  readonly codecType: 'AUTO' | 'HTTP1' | 'HTTP2';
  readonly routeTable: RouteTable;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly generateRequestId: boolean;
  /** Value of the Server response header (Envoy's `server_name`, default "envoy"; meshlet's default "meshlet"). */
  readonly serverName: string;
  /** Append `via` to requests and responses when set (Envoy's `via`). */
  readonly via: string;
  readonly accessLogs: readonly AccessLogConfig[];
  /** Downstream keep-alive idle timeout (`common_http_protocol_options.idle_timeout`, default 1 h). */
  readonly idleTimeoutMs: number;
  /** `common_http_protocol_options.max_stream_duration`: a whole request/response stream's limit (0 = none). */
  readonly maxStreamDurationMs: number;
  /** `request_headers_timeout` (0 = off) and `request_timeout` (0 = off). */
  readonly requestHeadersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** `max_request_headers_kb` (default 60). */
  readonly maxRequestHeadersKb: number;
  /** `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`. */
  readonly pathNormalization: PathNormalizationConfig;
  /** `common_http_protocol_options.max_headers_count` and `headers_with_underscores_action`. */
  readonly requestLimits: RequestLimits;
  /**
   * `upgrade_configs`: upgrade type (lowercase, e.g. "websocket") → `enabled`. A route's own
   * `upgrade_configs` overrides either way; an upgrade neither enables is refused (403).
   */
  readonly upgrades: ReadonlyMap<string, boolean>;
  /**
   * `stream_idle_timeout` (Envoy's default 5 min; 0 = none): how long a stream (a request and its
   * response, HTTP/1.1 or HTTP/2, or an upgraded one) may pass no bytes either way; a route's
   * `idle_timeout` overrides it (stream-idle-timeout.ts). Between requests a keep-alive connection
   * is governed by `idleTimeoutMs` instead.
   */
  readonly streamIdleTimeoutMs: number;
  /** The envoy.filters.http.rbac filter before the router, if configured. */
  readonly rbac: RbacFilter | undefined;
  /** envoy.filters.http.buffer's `max_request_bytes`: the request is read whole first, and refused with 413 past it. */
  readonly maxRequestBytes: number | undefined;
  /** `forward_client_cert_details` and `set_current_client_cert_details` (x-forwarded-client-cert). */
  readonly forwardClientCert: ForwardClientCertDetails;
  readonly clientCertFields: ClientCertFields;
}

/** One filter chain: which connections it takes, their TLS, and the connection manager they get. */
export interface FilterChainConfig {
  readonly name: string;
  readonly match: FilterChainMatch;
  readonly tls: DownstreamTlsConfig | undefined;
  readonly hcm: HttpConnectionManagerConfig;
}

/** A listener as parsed once from config; immutable. */
export interface ListenerConfig {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Whether connections are inspected (TLS or plaintext, SNI) to choose their filter chain. */
  readonly tlsInspector: boolean;
  readonly chains: readonly FilterChainConfig[];
  /** The decoded Envoy Listener, for /config_dump. */
  readonly source: unknown;
}
