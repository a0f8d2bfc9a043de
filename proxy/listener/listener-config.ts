import type { RouteTable } from '../router/route-table';

/** Where an access log goes (Envoy's stdout/stderr/file access loggers). */
export interface AccessLogConfig {
  readonly sink: 'stdout' | 'stderr' | 'file';
  readonly path?: string;
}

/** An HTTP connection manager as parsed once from config; immutable. */
export interface HttpConnectionManagerConfig {
  readonly statPrefix: string;
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
}

/** A listener as parsed once from config; immutable. */
export interface ListenerConfig {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly hcm: HttpConnectionManagerConfig;
  /** The decoded Envoy Listener, for /config_dump. */
  readonly source: unknown;
}
