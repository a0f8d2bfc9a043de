import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { peerIdentity, type PeerIdentity } from './peer-identity';
import type { PeerRequirement } from './peer-verification';
import type { SecretManager } from './secret-manager';
import type { SecretSource, TlsCertificate, TlsConfig, ValidationContext } from './tls-config';

/** A TLS context with its secrets resolved: what handshakes use right now. */
export interface ResolvedTls {
  /** For tls.Server#setSecureContext, which takes options rather than a context. */
  readonly contextOptions: SecureContextOptions;
  readonly secureContext: SecureContext;
  readonly requirement: PeerRequirement;
  /** This side's own certificate, for XFCC's By=. */
  readonly localIdentity: PeerIdentity | undefined;
  readonly certificate: TlsCertificate | undefined;
}

/**
 * One listener filter chain's or cluster's TLS: the parsed config, and the certificate and
 * trust bundle it currently resolves to. Warms until every named secret is there (as Envoy's
 * listeners and clusters wait for SDS); later secret updates rebuild the context for new
 * handshakes and call `onChange`.
 */
export class TlsMaterial {
  private resolved: ResolvedTls | undefined;
  private readonly unwatch: (() => void)[] = [];
  private readyWaiters: (() => void)[] = [];
  private readonly changeListeners = new Set<(tls: ResolvedTls) => void>();

  constructor(
    readonly config: TlsConfig,
    private readonly secrets: SecretManager,
  ) {
    for (const source of [config.certificate, config.validation]) {
      if (source?.kind === 'secret') this.unwatch.push(secrets.watch(source, () => this.refresh()));
    }
    this.refresh();
  }

  get current(): ResolvedTls | undefined {
    return this.resolved;
  }

  /** Resolves once every secret the context names is known. */
  ready(): Promise<void> {
    if (this.resolved !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  onChange(listener: (tls: ResolvedTls) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  close(): void {
    for (const stop of this.unwatch) stop();
    this.changeListeners.clear();
  }

  private refresh(): void {
    const certificate = this.lookup(this.config.certificate, 'tls_certificate');
    const validation = this.lookup(this.config.validation, 'validation_context');
    if (certificate === null || validation === null) return;
    const merged = mergeValidation(this.config.defaultValidation, validation);
    const { config } = this;
    const contextOptions: SecureContextOptions = {
      cert: certificate?.certChainPem,
      key: certificate?.keyPem,
      ca: merged?.trustedCaPem,
      minVersion: config.minVersion,
      maxVersion: config.maxVersion,
    };
    this.resolved = {
      contextOptions,
      secureContext: createSecureContext(contextOptions),
      requirement: {
        required: config.side === 'downstream' ? config.requireClientCertificate : merged?.trustedCaPem !== undefined,
        verifyChain: merged?.trustedCaPem !== undefined,
        sanMatchers: merged?.sanMatchers ?? [],
      },
      localIdentity: certificate && peerIdentity(new X509Certificate(certificate.certChainPem)),
      certificate,
    };
    for (const resolve of this.readyWaiters) resolve();
    this.readyWaiters = [];
    for (const listener of this.changeListeners) listener(this.resolved);
  }

  /** The source's value; undefined when there is none; null while a named secret has not arrived. */
  private lookup<K extends 'tls_certificate' | 'validation_context'>(
    source: SecretSource<K extends 'tls_certificate' ? TlsCertificate : ValidationContext> | undefined,
    kind: K,
  ): (K extends 'tls_certificate' ? TlsCertificate : ValidationContext) | undefined | null {
    if (source === undefined) return undefined;
    if (source.kind === 'inline') return source.value;
    const secret = this.secrets.get(source);
    // A secret of the other kind under this name is as good as none: the context waits.
    if (secret === undefined || secret.kind !== kind) return null;
    return secret.value as K extends 'tls_certificate' ? TlsCertificate : ValidationContext;
  }
}

/** combined_validation_context: the default context's settings, with the dynamic one's trust bundle and SAN matchers added. */
function mergeValidation(defaults: ValidationContext | undefined, dynamic: ValidationContext | undefined): ValidationContext | undefined {
  if (defaults === undefined || dynamic === undefined) return dynamic ?? defaults;
  return { trustedCaPem: dynamic.trustedCaPem ?? defaults.trustedCaPem, sanMatchers: [...defaults.sanMatchers, ...dynamic.sanMatchers] };
}
