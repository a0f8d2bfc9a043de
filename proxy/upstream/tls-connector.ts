import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { buildConnector as BuildConnector } from 'undici';
import type { Logger } from 'pino';
import type { SslStats } from '../metrics/proxy-stats';
import { handshakePeer } from '../tls/handshake-peer';
import { verifyPeer } from '../tls/peer-verification';
import { TCP_CONNECT_ERRORS } from './outcomes';
import type { ResolvedTls, TlsMaterial } from '../tls/tls-material';

// Only undici's connector, as for the pool (see upstream-host.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const buildConnector: typeof BuildConnector = require('undici/lib/core/connect');

/** Errors that mean "the connection never became usable": retried and ejected as connect failures. */
export const TLS_CONNECT_ERROR = 'MESHLET_UPSTREAM_TLS';

/**
 * An undici connector for a cluster's UpstreamTlsContext: the TLS client handshake with the
 * cluster's current certificate (SDS rotation applies to new connections), then the upstream's
 * certificate checked as Envoy does (trusted CA, subject alt names), so a refusal is counted and
 * logged with its reason and the request fails as a connect failure (UF) naming it.
 */
export function tlsConnector(material: TlsMaterial, connectTimeoutMs: number, ssl: SslStats, log: Logger, clusterName: string): BuildConnector.connector {
  const build = (tls: ResolvedTls, allowH2: boolean) =>
    buildConnector({
      allowH2,
      timeout: connectTimeoutMs,
      // A resumed TLS session does not show the peer's certificate to node's client, and every
      // connection's peer must be verified: no session cache.
      maxCachedSessions: 0,
      secureContext: tls.secureContext,
      // Verified after the handshake (verifyPeer), against the SANs the config names rather than the host name.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      servername: material.config.side === 'upstream' ? material.config.sni : undefined,
    });
  // undici says per connection whether HTTP/2 may be offered (ALPN); one connector each, rebuilt on rotation.
  let connectors: [BuildConnector.connector?, BuildConnector.connector?] = [];
  material.onChange(() => (connectors = []));
  return (options, callback) => {
    const tls = material.current!;
    const h2 = (options as { allowH2?: boolean }).allowH2 === true ? 1 : 0;
    const connect = (connectors[h2] ??= build(tls, h2 === 1));
    const requirement = tls.requirement;
    connect(options, (err, socket) => {
      if (err !== null) {
        const code = (err as NodeJS.ErrnoException).code;
        // A TCP-level failure stays what it is; anything else happened in the handshake.
        if (TCP_CONNECT_ERRORS.has(code)) return callback(err, null);
        ssl.connectionError.value++;
        return callback(tlsError(`TLS handshake failed: ${code ?? err.message}`), null);
      }
      const { peer, identity } = handshakePeer(socket as TLSSocket);
      const verdict = verifyPeer(peer, requirement);
      if (!verdict.ok) {
        ssl.failVerify(verdict.reason);
        log.warn({ cluster: clusterName, upstream: `${options.hostname}:${options.port}`, reason: verdict.reason, peerSans: identity?.uriSans }, `upstream TLS peer refused: ${verdict.detail}`);
        (socket as Socket).destroy();
        return callback(tlsError(`TLS ${verdict.reason}: ${verdict.detail}`), null);
      }
      ssl.handshake.value++;
      callback(null, socket);
    });
  };
}

function tlsError(message: string): Error {
  return Object.assign(new Error(message), { code: TLS_CONNECT_ERROR });
}
