/**
 * The ADS channel's credentials: plaintext without a transport_socket on the ADS cluster, else
 * TLS with the bootstrap's client certificate (the proxy's identity to the control plane), the
 * control plane's certificate verified against trusted_ca and then its subject alt names against
 * match_typed_subject_alt_names, by the same check the proxy applies to upstreams
 * (proxy/tls/peer-verification.ts). The host name is never checked: a control plane is known
 * by its SAN (a SPIFFE ID), as in Envoy.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AdsTlsConfig } from '../proxy/config/ads-tls';
import { peerIdentity } from '../proxy/tls/peer-identity';
import { verifyPeer } from '../proxy/tls/peer-verification';

export interface AdsChannelSecurity {
  readonly credentials: ChannelCredentials;
  /** grpc-js channel options the credentials need (the SNI). */
  readonly channelOptions: ChannelOptions;
}

export function adsChannelSecurity(tls: AdsTlsConfig | undefined, log: Logger): AdsChannelSecurity {
  if (tls === undefined) return { credentials: credentials.createInsecure(), channelOptions: {} };
  // grpc-js' createSsl, with the TLS versions of tls_params as well.
  const secureContext = createSecureContext({
    ca: tls.trustedCaPem,
    cert: tls.certificate?.certChainPem,
    key: tls.certificate?.keyPem,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
  });
  const requirement = { required: true, verifyChain: true, sanMatchers: tls.sanMatchers };
  // Called by node once the chain has verified against trusted_ca.
  const checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined => {
    const identity = cert.raw === undefined ? undefined : peerIdentity(new X509Certificate(cert.raw));
    const verdict = verifyPeer(
      { hasCertificate: identity !== undefined, verifyError: undefined, uriSans: identity?.uriSans ?? [], dnsSans: identity?.dnsSans ?? [] },
      requirement,
    );
    if (verdict.ok) return undefined;
    log.warn({ host, reason: verdict.reason, peerSans: identity?.uriSans }, `control plane TLS peer refused: ${verdict.detail}`);
    return new Error(`control plane TLS ${verdict.reason}: ${verdict.detail}`);
  };
  return {
    credentials: credentials.createFromSecureContext(secureContext, { checkServerIdentity }),
    // Without sni, grpc-js sends the target's host (as Envoy's auto_sni would); its name is not checked.
    channelOptions: tls.sni === undefined ? {} : { 'grpc.ssl_target_name_override': tls.sni },
  };
}
