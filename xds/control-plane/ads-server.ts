/** The gRPC server for ADS: both streaming methods, each stream an AdsConnection. */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { peerIdentity, type PeerIdentity } from '../../proxy/tls/peer-identity';
import { AdsConnection, type ConnectionHost } from './ads-connection';
import { DELTA, SOTW, type XdsProtocol } from './ads-protocols';
import { adsServiceDefinition } from './ads-service';

export interface AdsHost extends ConnectionHost {
  opened(connection: AdsConnection): void;
  closed(connection: AdsConnection): void;
  /** A request the connection could not handle: the stream is failed with INTERNAL. */
  failed(connection: AdsConnection, err: Error): void;
  /**
   * The connection's node is known (its first request): undefined if it may be served, else why
   * not (the stream is then ended with PERMISSION_DENIED before any response).
   */
  admit(connection: AdsConnection): string | undefined;
}

/** ADS over TLS: the server's certificate, and with `clientCaPem` every client must present one chaining to it. */
export interface AdsServerTls {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly clientCaPem: string | undefined;
}

export interface AdsServer {
  readonly port: number;
  /** Cancels every stream: clients reconnect elsewhere (or to the next instance). */
  close(): void;
}

export async function startAdsServer(host: AdsHost, address: string, port: number, tls?: AdsServerTls): Promise<AdsServer> {
  const server = new grpc.Server({
    // Proxies hold their stream for as long as they run; keepalive pings find dead ones.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  /** One handler per ADS method; every stream gets its own AdsConnection. */
  function serve<Request, Reply, State, Response, Nack>(protocol: XdsProtocol<Request, Reply, State, Response, Nack>) {
    return (call: grpc.ServerDuplexStream<Request, Reply>) => {
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        host.closed(connection);
      };
      // An 'error' is how a grpc-js server stream ends with a status (destroy() would send none).
      const fail = (code: grpc.status, details: string) =>
        call.emit('error', Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError);
      const refuse = (details: string) => {
        if (!open) return;
        fail(grpc.status.PERMISSION_DENIED, details);
        close();
      };
      const connection = new AdsConnection(protocol, (reply) => call.write(reply), host, tls && clientCertificate(call as grpc.ServerDuplexStream<unknown, unknown>), refuse);
      host.opened(connection);
      call.on('data', (request: Request) => {
        if (!open) return;
        try {
          if (connection.node === undefined) {
            connection.node = protocol.node(request);
            const denied = host.admit(connection);
            if (denied !== undefined) return refuse(denied);
          }
          connection.onRequest(request);
        } catch (err) {
          host.failed(connection, err as Error);
          fail(grpc.status.INTERNAL, (err as Error).message);
          close();
        }
      });
      call.on('end', () => {
        close();
        call.end();
      });
      call.on('cancelled', close);
      call.on('error', close);
      call.on('close', close);
    };
  }
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: serve(SOTW),
    DeltaAggregatedResources: serve(DELTA),
  });
  const credentials =
    tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(
          tls.clientCaPem === undefined ? null : Buffer.from(tls.clientCaPem),
          [{ cert_chain: Buffer.from(tls.certChainPem), private_key: Buffer.from(tls.keyPem) }],
          // Required and verified in the handshake: a client without one, or with one of another CA, never gets a stream.
          tls.clientCaPem !== undefined,
        );
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${address.includes(':') ? `[${address}]` : address}:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { port: boundPort, close: () => server.forceShutdown() };
}

/** The verified client certificate of the stream's connection (grpc-js gives it only once the chain verified). */
function clientCertificate(call: grpc.ServerDuplexStream<unknown, unknown>): PeerIdentity | undefined {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  return raw === undefined ? undefined : peerIdentity(new X509Certificate(raw));
}
