import type { SecureVersion } from 'node:tls';
import type { ConfigIssue } from '../../xds/config-error';
import { parseTlsCertificate, parseValidationContext } from '../tls/secret';
import type { CommonTlsConfig, DownstreamTlsConfig, SecretSource, TlsCertificate, UpstreamTlsConfig, ValidationContext } from '../tls/tls-config';
import { checkAdsConfigSource } from './config-source';
import { onlyFields } from './field-support';

const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
const DOWNSTREAM_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const TLS_VERSIONS: Record<string, SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/** Where named Secrets can come from: the bootstrap's static secrets, and SDS when there is an ADS stream. */
export interface SecretContext {
  readonly staticSecrets?: ReadonlySet<string>;
  readonly ads: boolean;
}

/** A listener filter chain's `transport_socket` → its TLS config (undefined: plaintext). */
export function parseDownstreamTransportSocket(socket: any, path: string, issues: ConfigIssue[], secrets: SecretContext): DownstreamTlsConfig | undefined {
  const context = transportSocketContext(socket, path, DOWNSTREAM_TYPE, issues);
  if (context === undefined) return undefined;
  const at = `${path}.typed_config`;
  onlyFields(context, at, ['common_tls_context', 'require_client_certificate'], issues);
  const common = parseCommonTlsContext(context.common_tls_context, `${at}.common_tls_context`, issues, secrets);
  // Without a common context its own issues say what is wrong; these would only add noise.
  if (common === undefined) return undefined;
  if (common.certificate === undefined) issues.push({ path: `${at}.common_tls_context`, message: 'a listener needs a certificate: tls_certificates or tls_certificate_sds_secret_configs' });
  const requireClientCertificate = context.require_client_certificate === true;
  if (requireClientCertificate && common.validation === undefined && common.defaultValidation === undefined) {
    issues.push({ path: `${at}.require_client_certificate`, message: 'needs a validation context (trusted_ca) to verify client certificates against' });
  }
  return { ...common, side: 'downstream', requireClientCertificate };
}

/** A cluster's `transport_socket` → its TLS config (undefined: plaintext). */
export function parseUpstreamTransportSocket(socket: any, path: string, issues: ConfigIssue[], secrets: SecretContext): UpstreamTlsConfig | undefined {
  const context = transportSocketContext(socket, path, UPSTREAM_TYPE, issues);
  if (context === undefined) return undefined;
  const at = `${path}.typed_config`;
  onlyFields(context, at, ['common_tls_context', 'sni'], issues);
  const common = parseCommonTlsContext(context.common_tls_context, `${at}.common_tls_context`, issues, secrets);
  return common && { ...common, side: 'upstream', sni: context.sni || undefined };
}

function transportSocketContext(socket: any, path: string, type: string, issues: ConfigIssue[]): any {
  if (socket === undefined) return undefined;
  onlyFields(socket, path, ['name', 'typed_config'], issues);
  const actual = socket.typed_config?.['@type'];
  if (actual !== type) {
    issues.push({ path, message: `transport socket ${socket.name ?? ''} (${actual ?? 'no typed_config'}) is not supported; meshlet has ${TLS_TRANSPORT_SOCKET} with ${type}` });
    return undefined;
  }
  return socket.typed_config;
}

function parseCommonTlsContext(common: any, path: string, issues: ConfigIssue[], secrets: SecretContext): CommonTlsConfig | undefined {
  const before = issues.length;
  common ??= {};
  onlyFields(common, path, [
    'tls_params', 'tls_certificates', 'tls_certificate_sds_secret_configs', 'validation_context',
    'validation_context_sds_secret_config', 'combined_validation_context', 'alpn_protocols',
  ], issues);
  onlyFields(common.tls_params, `${path}.tls_params`, ['tls_minimum_protocol_version', 'tls_maximum_protocol_version'], issues);

  let certificate: SecretSource<TlsCertificate> | undefined;
  const inline: any[] = common.tls_certificates ?? [];
  const sds: any[] = common.tls_certificate_sds_secret_configs ?? [];
  if (inline.length + sds.length > 1) {
    issues.push({ path, message: 'one certificate is supported (tls_certificates or tls_certificate_sds_secret_configs, one entry)' });
  } else if (inline.length === 1) {
    const value = parseTlsCertificate(inline[0], `${path}.tls_certificates[0]`, issues);
    if (value !== undefined) certificate = { kind: 'inline', value };
  } else if (sds.length === 1) {
    certificate = secretReference(sds[0], `${path}.tls_certificate_sds_secret_configs[0]`, issues, secrets);
  }

  let validation: SecretSource<ValidationContext> | undefined;
  let defaultValidation: ValidationContext | undefined;
  if (common.validation_context !== undefined) {
    const value = parseValidationContext(common.validation_context, `${path}.validation_context`, issues);
    if (value !== undefined) validation = { kind: 'inline', value };
  } else if (common.validation_context_sds_secret_config !== undefined) {
    validation = secretReference(common.validation_context_sds_secret_config, `${path}.validation_context_sds_secret_config`, issues, secrets);
  } else if (common.combined_validation_context !== undefined) {
    const combined = common.combined_validation_context;
    const at = `${path}.combined_validation_context`;
    onlyFields(combined, at, ['default_validation_context', 'validation_context_sds_secret_config'], issues);
    defaultValidation = parseValidationContext(combined.default_validation_context ?? {}, `${at}.default_validation_context`, issues);
    validation = secretReference(combined.validation_context_sds_secret_config, `${at}.validation_context_sds_secret_config`, issues, secrets);
  }
  if (issues.length > before) return undefined;
  return {
    certificate,
    validation,
    defaultValidation,
    alpnProtocols: common.alpn_protocols ?? [],
    minVersion: TLS_VERSIONS[common.tls_params?.tls_minimum_protocol_version ?? 'TLS_AUTO'] ?? 'TLSv1.2',
    maxVersion: TLS_VERSIONS[common.tls_params?.tls_maximum_protocol_version ?? 'TLS_AUTO'],
  };
}

/** `SdsSecretConfig`: with `sds_config` the Secret comes over ADS; without, it is a bootstrap static secret. */
function secretReference(config: any, path: string, issues: ConfigIssue[], secrets: SecretContext): { kind: 'secret'; name: string; sds: boolean } | undefined {
  if (config === undefined) {
    issues.push({ path, message: 'required' });
    return undefined;
  }
  onlyFields(config, path, ['name', 'sds_config'], issues);
  const name: string = config.name ?? '';
  if (name === '') {
    issues.push({ path: `${path}.name`, message: 'required' });
    return undefined;
  }
  if (config.sds_config !== undefined) {
    checkAdsConfigSource(config.sds_config, `${path}.sds_config`, issues, secrets.ads);
    return { kind: 'secret', name, sds: true };
  }
  if (secrets.staticSecrets?.has(name) !== true) {
    issues.push({ path: `${path}.name`, message: `no static secret "${name}" in static_resources.secrets (or give sds_config to take it over ADS)` });
    return undefined;
  }
  return { kind: 'secret', name, sds: false };
}
