/** The gRPC server for ADS: both streaming methods, each stream an AdsConnection. */
import * as grpc from '@grpc/grpc-js';
import { AdsConnection, type ConnectionHost } from './ads-connection';
import { DELTA, SOTW, type XdsProtocol } from './ads-protocols';
import { adsServiceDefinition } from './ads-service';

export interface AdsHost extends ConnectionHost {
  opened(connection: AdsConnection): void;
  closed(connection: AdsConnection): void;
  /** A request the connection could not handle: the stream is failed with INTERNAL. */
  failed(connection: AdsConnection, err: Error): void;
}

export interface AdsServer {
  readonly port: number;
  /** Cancels every stream: clients reconnect elsewhere (or to the next instance). */
  close(): void;
}

export async function startAdsServer(host: AdsHost, address: string, port: number): Promise<AdsServer> {
  const server = new grpc.Server({
    // Proxies hold their stream for as long as they run; keepalive pings find dead ones.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  /** One handler per ADS method; every stream gets its own AdsConnection. */
  function serve<Request, Reply, State, Response, Nack>(protocol: XdsProtocol<Request, Reply, State, Response, Nack>) {
    return (call: grpc.ServerDuplexStream<Request, Reply>) => {
      const connection = new AdsConnection(protocol, (reply) => call.write(reply), host);
      host.opened(connection);
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        host.closed(connection);
      };
      call.on('data', (request: Request) => {
        try {
          connection.onRequest(request);
        } catch (err) {
          host.failed(connection, err as Error);
          call.destroy({ code: grpc.status.INTERNAL, details: (err as Error).message, metadata: new grpc.Metadata() } as grpc.ServiceError);
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
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${address.includes(':') ? `[${address}]` : address}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { port: boundPort, close: () => server.forceShutdown() };
}
