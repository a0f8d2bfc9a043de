import type { SanMatcher } from './tls-config';

/**
 * Why a peer certificate was refused. Counted and logged by name, so an mTLS failure
 * shows as its cause (an untrusted CA, an expired certificate, a SAN mismatch), not a bare 503.
 */
export type VerifyFailure = 'no_cert' | 'untrusted_ca' | 'expired' | 'not_yet_valid' | 'san_mismatch' | 'invalid_cert';

/** What the handshake told about the peer. */
export interface HandshakePeer {
  readonly hasCertificate: boolean;
  /** OpenSSL's verify error code (node's `authorizationError`), undefined when the chain verified. */
  readonly verifyError: string | undefined;
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
}

/** What this side requires of its peer. */
export interface PeerRequirement {
  /** Listeners: require_client_certificate. Upstreams: always, when there is a trusted CA. */
  readonly required: boolean;
  /** Whether the chain is checked (a trusted CA is configured); without one, Envoy accepts any certificate. */
  readonly verifyChain: boolean;
  readonly sanMatchers: readonly SanMatcher[];
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: VerifyFailure; readonly detail: string };

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG',
]);

/** Envoy's order: presence, then the chain, then the subject alt names. */
export function verifyPeer(peer: HandshakePeer, requirement: PeerRequirement): Verdict {
  if (!peer.hasCertificate) {
    return requirement.required ? { ok: false, reason: 'no_cert', detail: 'the peer presented no certificate' } : { ok: true };
  }
  if (requirement.verifyChain && peer.verifyError !== undefined) {
    const code = peer.verifyError;
    if (code === 'CERT_HAS_EXPIRED') return { ok: false, reason: 'expired', detail: 'the peer certificate has expired (CERT_HAS_EXPIRED)' };
    if (code === 'CERT_NOT_YET_VALID') return { ok: false, reason: 'not_yet_valid', detail: 'the peer certificate is not yet valid (CERT_NOT_YET_VALID)' };
    if (UNTRUSTED.has(code)) return { ok: false, reason: 'untrusted_ca', detail: `the peer certificate is not signed by a trusted CA (${code})` };
    return { ok: false, reason: 'invalid_cert', detail: `the peer certificate does not verify (${code})` };
  }
  if (requirement.sanMatchers.length > 0 && !sansMatch(peer, requirement.sanMatchers)) {
    const sans = [...peer.uriSans.map((s) => `URI:${s}`), ...peer.dnsSans.map((s) => `DNS:${s}`)];
    return { ok: false, reason: 'san_mismatch', detail: `no subject alt name of the peer matches (peer has ${sans.join(', ') || 'none'})` };
  }
  return { ok: true };
}

function sansMatch(peer: HandshakePeer, matchers: readonly SanMatcher[]): boolean {
  return matchers.some(({ type, matcher }) =>
    (type !== 'DNS' && peer.uriSans.some((san) => matcher.matches(san))) || (type !== 'URI' && peer.dnsSans.some((san) => matcher.matches(san))),
  );
}
