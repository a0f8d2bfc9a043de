import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { peerIdentity, type PeerIdentity } from './peer-identity';
import type { HandshakePeer } from './peer-verification';

/** The verified client identity of each downstream mTLS connection, for RBAC and x-forwarded-client-cert. */
const verifiedPeers = new WeakMap<Socket, PeerIdentity>();

/** What a finished handshake tells about the peer, and its identity when it sent a certificate. */
export function handshakePeer(socket: TLSSocket): { readonly peer: HandshakePeer; readonly identity: PeerIdentity | undefined } {
  const certificate = socket.getPeerX509Certificate();
  const identity = certificate && peerIdentity(certificate);
  const error = socket.authorizationError as unknown;
  return {
    peer: {
      hasCertificate: identity !== undefined,
      verifyError: socket.authorized || error === undefined || error === null ? undefined : String((error as Error).message ?? error),
      uriSans: identity?.uriSans ?? [],
      dnsSans: identity?.dnsSans ?? [],
    },
    identity,
  };
}

export function setVerifiedPeer(socket: Socket, identity: PeerIdentity): void {
  verifiedPeers.set(socket, identity);
}

/** The client certificate's identity on this connection; undefined for plaintext or TLS without a client certificate. */
export function verifiedPeer(socket: Socket): PeerIdentity | undefined {
  return verifiedPeers.get(socket);
}
