/**
 * The mesh as the control plane understands it, after the mesh file has been validated
 * (mesh-parser.ts). Immutable; every Envoy resource is generated from this and the node's role.
 * The file format is documented in examples/mesh.yaml.
 */

export const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'] as const;
export type LbPolicy = (typeof LB_POLICIES)[number];

/** What the service's endpoints speak: HTTP/1.1, or HTTP/2 (grpc is HTTP/2, named for what it is). */
export const PROTOCOLS = ['http1', 'http2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface MeshConfig {
  /** In file order, so generated resources (and their versions) are stable. */
  readonly services: readonly ServiceSpec[];
  readonly gateways: readonly GatewaySpec[];
  readonly mtls: MtlsSettings;
}

/** STRICT: mTLS only; PERMISSIVE: mTLS or plaintext (for migrating); DISABLE: plaintext. */
export const MTLS_MODES = ['STRICT', 'PERMISSIVE', 'DISABLE'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];

/** The mesh's certificate authority settings; each service has its own mode (ServiceSpec.mtls). */
export interface MtlsSettings {
  /**
   * Whether any service has mTLS on: only then does the control plane need a CA and serve
   * certificates, so a mesh without mTLS behaves exactly as before.
   */
  readonly enabled: boolean;
  readonly trustDomain: string;
  readonly certTtlMs: number;
  /** As written (relative to the mesh file, or to the working directory with etcd); absent: the control plane makes a CA of its own. */
  readonly caDir?: string;
}

export interface ServiceSpec {
  readonly name: string;
  /** The port clients put in Host/authority: virtual host domains are `name` and `name:port`. */
  readonly port: number;
  readonly lbPolicy?: LbPolicy;
  readonly protocol: Protocol;
  /** proto3 JSON duration ("0.25s"). */
  readonly connectTimeout?: string;
  readonly endpoints: readonly EndpointSpec[];
  /** First match wins; never empty (the default is everything to the service). */
  readonly routes: readonly RouteSpec[];
  /** Where the sidecar of this service (node.cluster = name) listens. */
  readonly sidecar: SidecarSpec;
  /** Whether its endpoints (its sidecars' inbound listeners) take mTLS, plaintext or both. */
  readonly mtls: MtlsMode;
  /** The SPIFFE ID of its sidecars (namespace, service account): what their certificates say and peers check. */
  readonly spiffeId: string;
  /** SPIFFE IDs that may call its app (checked by its sidecars); undefined: whoever the transport lets in. */
  readonly allowFrom?: readonly string[];
}

export interface EndpointSpec {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Only the order matters: lower is preferred (renumbered densely per cluster). */
  readonly priority: number;
  /** Subset label: routes can send traffic to the endpoints of one version. */
  readonly version?: string;
  readonly region?: string;
  readonly zone?: string;
}

export interface SidecarSpec {
  readonly address: string;
  readonly outboundPort: number;
  readonly inboundPort: number;
  /** The local app; an inbound listener is generated only when it is set. */
  readonly appPort?: number;
}

export interface RouteSpec {
  readonly name?: string;
  readonly match: MatchSpec;
  /** One destination, or several for a weighted split. */
  readonly to: readonly DestinationSpec[];
  /** proto3 JSON durations. */
  readonly timeout?: string;
  readonly retries?: RetrySpec;
  readonly prefixRewrite?: string;
}

/** Exactly one of prefix, path, regex. */
export interface MatchSpec {
  readonly prefix?: string;
  readonly path?: string;
  readonly regex?: string;
  readonly headers: readonly HeaderMatchSpec[];
}

export const HEADER_MATCH_KINDS = ['exact', 'prefix', 'suffix', 'contains', 'regex', 'present'] as const;
export type HeaderMatchKind = (typeof HEADER_MATCH_KINDS)[number];

export interface HeaderMatchSpec {
  readonly name: string;
  readonly kind: HeaderMatchKind;
  /** The string to compare, or for `present` whether the header must be there. */
  readonly value: string | boolean;
}

export interface DestinationSpec {
  readonly service: string;
  readonly version?: string;
  readonly weight: number;
}

export interface RetrySpec {
  readonly attempts: number;
  /** Envoy's retry_on conditions, comma-separated. */
  readonly on: string;
  readonly perTryTimeout?: string;
}

export interface GatewaySpec {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly hosts: readonly string[];
  readonly routes: readonly RouteSpec[];
  /** The SPIFFE ID of its certificate, which it presents to services with mTLS. */
  readonly spiffeId: string;
  /** TLS termination on `port`, a certificate per set of SNI names; absent: `port` is plaintext HTTP. */
  readonly tls?: GatewayTlsSpec;
}

export interface GatewayTlsSpec {
  /** Never empty; no host is in two of them (each is a filter chain, and Envoy rejects overlapping chains). */
  readonly certificates: readonly GatewayCertificateSpec[];
  /** https_redirect: a plaintext listener on this port redirects every request to https on the gateway's `port`. */
  readonly redirectPort?: number;
}

export interface GatewayCertificateSpec {
  /** SNI names, lowercased: exact, or "*.suffix" for any name ending in ".suffix". */
  readonly hosts: readonly string[];
  /** PEM files as written (relative like caDir), read with the mesh (gateway-certificates.ts). */
  readonly certChain: string;
  readonly privateKey: string;
}
