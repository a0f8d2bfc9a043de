import { createHash, type X509Certificate } from 'node:crypto';

/** What the proxy knows about a verified TLS peer (or its own certificate), computed once per connection. */
export interface PeerIdentity {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** Envoy's subject format (RFC 2253: most specific RDN first, comma-separated, e.g. "CN=foo,O=bar,C=US"). */
  readonly subject: string;
  /** Lowercase hex SHA-256 of the certificate's DER (Envoy's XFCC Hash). */
  readonly sha256: string;
  /** The leaf certificate (PEM) and the chain the peer sent after it (PEM, may be ''), for XFCC Cert/Chain. */
  readonly certPem: string;
  readonly chainPem: string;
}

export function peerIdentity(leaf: X509Certificate, chain: readonly X509Certificate[] = []): PeerIdentity {
  const uriSans: string[] = [];
  const dnsSans: string[] = [];
  for (const [type, value] of subjectAltNames(leaf.subjectAltName)) {
    if (type === 'URI') uriSans.push(value);
    else if (type === 'DNS') dnsSans.push(value);
  }
  return {
    uriSans,
    dnsSans,
    subject: rfc2253Subject(leaf.subject),
    sha256: createHash('sha256').update(leaf.raw).digest('hex'),
    certPem: leaf.toString(),
    chainPem: chain.map((cert) => cert.toString()).join(''),
  };
}

/**
 * The one name a peer goes by (logs, headers): the first URI SAN, else the first DNS SAN, else the
 * subject. RBAC's `authenticated.principal_name` tries every SAN, not just this one, as Envoy does.
 */
export function principalName(peer: PeerIdentity): string {
  return peer.uriSans[0] ?? peer.dnsSans[0] ?? peer.subject;
}

/**
 * node prints the SANs as `TYPE:value, TYPE:value`. A value holding a comma, a quote, a backslash
 * or a control character is printed as a JSON string (`URI:"a\u002cb"`), so a raw ", " only ever
 * separates entries.
 */
function subjectAltNames(text: string | undefined): [type: string, value: string][] {
  if (!text) return [];
  return text.split(', ').map((entry) => {
    const colon = entry.indexOf(':');
    const value = entry.slice(colon + 1);
    return [entry.slice(0, colon), value.startsWith('"') ? (JSON.parse(value) as string) : value];
  });
}

/**
 * node prints the subject one RDN per line in certificate order, the members of a multi-valued
 * RDN joined by " + ", values already escaped as RFC 2253 requires. Envoy prints it with
 * OpenSSL's RFC 2253 flags: every attribute in reverse order, and non-ASCII characters as \XX
 * per UTF-8 byte.
 */
function rfc2253Subject(multiline: string): string {
  return multiline
    .split('\n')
    .reverse()
    .map((rdn) => rdn.split(' + ').reverse().join('+'))
    .join(',')
    .replace(/[^\x00-\x7f]/gu, (char) =>
      Array.from(Buffer.from(char, 'utf8'), (byte) => `\\${byte.toString(16).toUpperCase()}`).join(''),
    );
}
