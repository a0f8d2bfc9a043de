/**
 * x-forwarded-client-cert (XFCC) as Envoy's HTTP connection manager writes it, per
 * `forward_client_cert_details` and `set_current_client_cert_details`.
 */
import type { PeerIdentity } from '../tls/peer-identity';

export type ForwardClientCertDetails = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

/** set_current_client_cert_details: what this hop's element carries besides By and Hash. */
export interface ClientCertFields {
  readonly subject: boolean;
  readonly cert: boolean;
  readonly chain: boolean;
  readonly dns: boolean;
  readonly uri: boolean;
}

/**
 * The XFCC value to send upstream, or undefined to send none. `existing`: the request's XFCC
 * value; `local`: this proxy's own certificate on that connection (By=); `peer`: the verified
 * client certificate (undefined when the connection is not mTLS).
 */
export function forwardedClientCert(
  existing: string | undefined,
  mode: ForwardClientCertDetails,
  fields: ClientCertFields,
  local: PeerIdentity | undefined,
  peer: PeerIdentity | undefined,
): string | undefined {
  if (mode === 'ALWAYS_FORWARD_ONLY') return existing;
  // Without a client certificate nothing vouches for the header, so every other mode drops it.
  if (mode === 'SANITIZE' || peer === undefined) return undefined;
  if (mode === 'FORWARD_ONLY') return existing;
  const element = clientCertElement(fields, local, peer);
  return mode === 'APPEND_FORWARD' && existing ? `${existing},${element}` : element;
}

/** This hop's element, its keys in Envoy's order: By, Hash, Cert, Chain, Subject, URI, DNS. */
function clientCertElement(fields: ClientCertFields, local: PeerIdentity | undefined, peer: PeerIdentity): string {
  const pairs: string[] = [];
  const by = local?.uriSans[0];
  if (by !== undefined) pairs.push(`By=${xfccValue(by)}`);
  pairs.push(`Hash=${peer.sha256}`);
  if (fields.cert) pairs.push(`Cert="${urlEncodePem(peer.certPem)}"`);
  // Envoy's Chain starts with the leaf.
  if (fields.chain) pairs.push(`Chain="${urlEncodePem(peer.certPem + peer.chainPem)}"`);
  // Always quoted. RFC 2253 has already escaped every '"' in a subject as \", which is exactly
  // XFCC's escape, so Envoy writes the subject as is.
  if (fields.subject) pairs.push(`Subject="${peer.subject}"`);
  // Envoy sends only the first URI SAN, and the key even when there is none.
  if (fields.uri) pairs.push(`URI=${xfccValue(peer.uriSans[0] ?? '')}`);
  if (fields.dns) for (const dns of peer.dnsSans) pairs.push(`DNS=${xfccValue(dns)}`);
  return pairs.join(';');
}

/**
 * XFCC's rule for a value holding a separator (',', ';', '='): double-quote it, escaping '"' as
 * \". (SPIFFE IDs and DNS names never need it; a URI SAN with a query can.)
 */
function xfccValue(text: string): string {
  return /[,;="]/.test(text) ? `"${text.replace(/"/g, '\\"')}"` : text;
}

const PEM_ESCAPES: Readonly<Record<string, string>> = { '\n': '%0A', ' ': '%20', '+': '%2B', '/': '%2F', '=': '%3D' };

/** Envoy's URL encoding of a PEM: exactly these five characters, nothing else. */
function urlEncodePem(pem: string): string {
  return pem.replace(/[\n +/=]/g, (char) => PEM_ESCAPES[char]!);
}
