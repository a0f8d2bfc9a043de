import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { ConfigIssue } from '../../xds/config-error';
import { parseDataSource } from '../config/data-source';
import { onlyFields } from '../config/field-support';
import { compileStringMatcher } from '../router/string-matcher';
import type { SanMatcher, TlsCertificate, ValidationContext } from './tls-config';

/** An Envoy `Secret` (bootstrap static_resources.secrets or SDS), parsed and checked once. */
export type Secret =
  | { readonly kind: 'tls_certificate'; readonly name: string; readonly value: TlsCertificate }
  | { readonly kind: 'validation_context'; readonly name: string; readonly value: ValidationContext };

// EMAIL and IP_ADDRESS SANs are Envoy's too; meshlet's identities are SPIFFE URIs and DNS names.
const SAN_TYPES = ['URI', 'DNS'] as const;

export function parseSecret(secret: any, path: string, issues: ConfigIssue[]): Secret | undefined {
  onlyFields(secret, path, ['name', 'tls_certificate', 'validation_context'], issues);
  const name: string = secret.name ?? '';
  if (name === '') issues.push({ path: `${path}.name`, message: 'required' });
  if (secret.tls_certificate !== undefined) {
    const value = parseTlsCertificate(secret.tls_certificate, `${path}.tls_certificate`, issues);
    return value && { kind: 'tls_certificate', name, value };
  }
  if (secret.validation_context !== undefined) {
    const value = parseValidationContext(secret.validation_context, `${path}.validation_context`, issues);
    return value && { kind: 'validation_context', name, value };
  }
  issues.push({ path, message: 'one of tls_certificate, validation_context is required (meshlet supports these two)' });
  return undefined;
}

/** `TlsCertificate`: the chain and the key must parse, and belong together. */
export function parseTlsCertificate(config: any, path: string, issues: ConfigIssue[]): TlsCertificate | undefined {
  onlyFields(config, path, ['certificate_chain', 'private_key'], issues);
  const certChainPem = parseDataSource(config.certificate_chain, `${path}.certificate_chain`, issues);
  const keyPem = parseDataSource(config.private_key, `${path}.private_key`, issues);
  if (certChainPem === undefined || keyPem === undefined) return undefined;
  const certs = parseCertificates(certChainPem, `${path}.certificate_chain`, issues);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    issues.push({ path: `${path}.private_key`, message: `not a PEM private key: ${(err as Error).message}` });
    return undefined;
  }
  if (certs === undefined) return undefined;
  if (!certs[0]!.checkPrivateKey(key)) {
    issues.push({ path: `${path}.private_key`, message: 'does not match the certificate (the first in certificate_chain)' });
    return undefined;
  }
  return { certChainPem, keyPem };
}

/** `CertificateValidationContext`: the trust bundle and subject alt name matchers. */
export function parseValidationContext(config: any, path: string, issues: ConfigIssue[]): ValidationContext | undefined {
  onlyFields(config, path, ['trusted_ca', 'match_typed_subject_alt_names', 'match_subject_alt_names'], issues);
  const before = issues.length;
  let trustedCaPem: string | undefined;
  if (config.trusted_ca !== undefined) {
    trustedCaPem = parseDataSource(config.trusted_ca, `${path}.trusted_ca`, issues);
    if (trustedCaPem !== undefined) parseCertificates(trustedCaPem, `${path}.trusted_ca`, issues);
  }
  const sanMatchers: SanMatcher[] = [];
  (config.match_typed_subject_alt_names ?? []).forEach((m: any, i: number) => {
    const at = `${path}.match_typed_subject_alt_names[${i}]`;
    onlyFields(m, at, ['san_type', 'matcher'], issues);
    if (!SAN_TYPES.includes(m.san_type)) {
      issues.push({ path: `${at}.san_type`, message: `${m.san_type} is not supported (supported: ${SAN_TYPES.join(', ')})` });
      return;
    }
    const matcher = compileStringMatcher(m.matcher ?? {}, `${at}.matcher`, issues);
    if (matcher !== undefined) sanMatchers.push({ type: m.san_type, matcher });
  });
  (config.match_subject_alt_names ?? []).forEach((m: any, i: number) => {
    const matcher = compileStringMatcher(m, `${path}.match_subject_alt_names[${i}]`, issues);
    if (matcher !== undefined) sanMatchers.push({ type: undefined, matcher });
  });
  return issues.length > before ? undefined : { trustedCaPem, sanMatchers };
}

/** Every certificate of a PEM bundle; an issue when there is none or one does not parse. */
function parseCertificates(pem: string, path: string, issues: ConfigIssue[]): X509Certificate[] | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    issues.push({ path, message: 'no PEM certificate found' });
    return undefined;
  }
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch (err) {
    issues.push({ path, message: `a certificate does not parse: ${(err as Error).message}` });
    return undefined;
  }
}
