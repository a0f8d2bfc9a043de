/**
 * The ADS cluster's `transport_socket`: TLS (mutual, with a client certificate) to the control
 * plane, as Istio's bootstrap has it. The cluster's UpstreamTlsContext is parsed like any other
 * (tls-context-parser.ts); this resolves it once, at start-up, into what the ADS gRPC channel needs.
 *
 * Everything has to be at hand before the ADS stream exists: certificates and trust come from the
 * bootstrap (inline, files, or `static_resources.secrets`), never over SDS, since SDS is what
 * the stream would bring. And the control plane's certificate must be verified: a trusted_ca is
 * required. Files are read when the bootstrap is loaded (a new certificate needs a restart).
 */
import type { SecureVersion } from 'node:tls';
import type { ConfigIssue } from '../../xds/config-error';
import type { Secret } from '../tls/secret';
import type { SanMatcher, SecretSource, TlsCertificate, UpstreamTlsConfig, ValidationContext } from '../tls/tls-config';

export interface AdsTlsConfig {
  /** The proxy's client certificate (its bootstrap identity); undefined: TLS without one. */
  readonly certificate: TlsCertificate | undefined;
  /** The control plane's certificate must chain to this bundle (PEM). */
  readonly trustedCaPem: string;
  /** And have a SAN matching one of these, when there are any (match_typed_subject_alt_names). */
  readonly sanMatchers: readonly SanMatcher[];
  /** `sni`: the name sent, and not otherwise checked (the SAN matchers are the check). */
  readonly sni: string | undefined;
  readonly minVersion: SecureVersion | undefined;
  readonly maxVersion: SecureVersion | undefined;
}

/**
 * `socket`: the ADS cluster's raw transport_socket (decoded), `tls`: what parseUpstreamTransportSocket
 * made of it (undefined if it reported issues). Undefined without a transport_socket: plaintext.
 */
export function parseAdsTls(
  socket: any,
  tls: UpstreamTlsConfig | undefined,
  path: string,
  secrets: ReadonlyMap<string, Secret>,
  issues: ConfigIssue[],
): AdsTlsConfig | undefined {
  if (socket === undefined || tls === undefined) return undefined;
  const before = issues.length;
  const common = socket.typed_config?.common_tls_context ?? {};
  const at = `${path}.typed_config.common_tls_context`;
  const overAds = 'cannot come over SDS on the ADS stream it is needed to open: give it inline, as a file, or as a static secret';
  (common.tls_certificate_sds_secret_configs ?? []).forEach((c: any, i: number) => {
    if (c?.sds_config !== undefined) issues.push({ path: `${at}.tls_certificate_sds_secret_configs[${i}].sds_config`, message: `the ADS cluster's certificate ${overAds}` });
  });
  if (common.validation_context_sds_secret_config?.sds_config !== undefined) {
    issues.push({ path: `${at}.validation_context_sds_secret_config.sds_config`, message: `the ADS cluster's validation context ${overAds}` });
  }
  if (common.combined_validation_context?.validation_context_sds_secret_config?.sds_config !== undefined) {
    issues.push({ path: `${at}.combined_validation_context.validation_context_sds_secret_config.sds_config`, message: `the ADS cluster's validation context ${overAds}` });
  }
  const alpn: readonly string[] = tls.alpnProtocols;
  if (alpn.some((p) => p !== 'h2')) issues.push({ path: `${at}.alpn_protocols`, message: 'gRPC to the control plane negotiates h2 only (leave alpn_protocols out, or give [h2])' });
  if (issues.length > before) return undefined;

  const certificate = resolve(tls.certificate, secrets, (s) => (s.kind === 'tls_certificate' ? s.value : undefined));
  const named = resolve(tls.validation, secrets, (s) => (s.kind === 'validation_context' ? s.value : undefined));
  const wrongKind = (what: string, source: { kind: string; name?: string }) =>
    issues.push({ path: at, message: `the static secret "${source.name}" named for the ADS cluster's ${what} is not a ${what}` });
  if (tls.certificate !== undefined && certificate === undefined) wrongKind('tls_certificate', tls.certificate);
  if (tls.validation !== undefined && named === undefined) wrongKind('validation_context', tls.validation);
  if (issues.length > before) return undefined;
  const validation = mergeValidation(tls.defaultValidation, named);
  if (validation?.trustedCaPem === undefined) {
    issues.push({ path: at, message: "the ADS cluster's TLS needs validation_context.trusted_ca: the control plane's certificate must be verified" });
    return undefined;
  }
  return { certificate, trustedCaPem: validation.trustedCaPem, sanMatchers: validation.sanMatchers, sni: tls.sni, minVersion: tls.minVersion, maxVersion: tls.maxVersion };
}

/** Inline, or a static secret of the kind `pick` takes (the parser checked the name; SDS references were refused above). */
function resolve<T>(source: SecretSource<T> | undefined, secrets: ReadonlyMap<string, Secret>, pick: (secret: Secret) => T | undefined): T | undefined {
  if (source === undefined) return undefined;
  if (source.kind === 'inline') return source.value;
  const secret = secrets.get(source.name);
  return secret === undefined ? undefined : pick(secret);
}

/** As a cluster's combined_validation_context: the default's matchers and the named context's trust. */
function mergeValidation(defaults: ValidationContext | undefined, named: ValidationContext | undefined): ValidationContext | undefined {
  if (defaults === undefined || named === undefined) return named ?? defaults;
  return { trustedCaPem: named.trustedCaPem ?? defaults.trustedCaPem, sanMatchers: [...defaults.sanMatchers, ...named.sanMatchers] };
}
