/**
 * TLS as parsed once from Envoy's transport sockets and Secrets; immutable. Certificates and
 * trust bundles are either given in the config or named Secrets (bootstrap
 * `static_resources.secrets`, or SDS over ADS), which change under a running listener or cluster.
 */
import type { SecureVersion } from 'node:tls';
import type { ValueMatcher } from '../router/string-matcher';

/** A certificate chain (leaf first) and its private key, PEM. */
export interface TlsCertificate {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/** Envoy's `match_typed_subject_alt_names[]` entry; `type` undefined for the legacy any-SAN `match_subject_alt_names`. */
export interface SanMatcher {
  readonly type: 'URI' | 'DNS' | undefined;
  readonly matcher: ValueMatcher;
}

/** What a peer's certificate is checked against. */
export interface ValidationContext {
  /** PEM bundle; undefined = the peer's certificate is not verified (Envoy: no trusted_ca). */
  readonly trustedCaPem: string | undefined;
  /** The peer must have a SAN matching one of these (when non-empty). */
  readonly sanMatchers: readonly SanMatcher[];
}

/** Given in the config, or a Secret by name: static (bootstrap) or from SDS. */
export type SecretSource<T> =
  | { readonly kind: 'inline'; readonly value: T }
  | { readonly kind: 'secret'; readonly name: string; readonly sds: boolean };

/** Envoy's CommonTlsContext, the subset meshlet implements. */
export interface CommonTlsConfig {
  readonly certificate: SecretSource<TlsCertificate> | undefined;
  readonly validation: SecretSource<ValidationContext> | undefined;
  /** combined_validation_context.default_validation_context: merged over the (SDS) validation context. */
  readonly defaultValidation: ValidationContext | undefined;
  readonly alpnProtocols: readonly string[];
  readonly minVersion: SecureVersion | undefined;
  readonly maxVersion: SecureVersion | undefined;
}

/** DownstreamTlsContext (listeners). */
export interface DownstreamTlsConfig extends CommonTlsConfig {
  readonly side: 'downstream';
  readonly requireClientCertificate: boolean;
}

/** UpstreamTlsContext (clusters). */
export interface UpstreamTlsConfig extends CommonTlsConfig {
  readonly side: 'upstream';
  /** Sent as SNI; Envoy sends none unless told. */
  readonly sni: string | undefined;
}

export type TlsConfig = DownstreamTlsConfig | UpstreamTlsConfig;
