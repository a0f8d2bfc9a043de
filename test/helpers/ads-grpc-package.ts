import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { dirname, join } from 'node:path';

let constructor: grpc.ServiceClientConstructor | undefined;

/**
 * Envoy's AggregatedDiscoveryService loaded with proto-loader from the real protos: the client
 * constructor, whose `.service` is the definition a test server registers. Tests speak ADS with
 * it independently of meshlet's own service code.
 */
export function adsServiceClient(): grpc.ServiceClientConstructor {
  if (constructor === undefined) {
    const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
    const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d)),
    });
    const loaded = grpc.loadPackageDefinition(definition) as any;
    constructor = loaded.envoy.service.discovery.v3.AggregatedDiscoveryService as grpc.ServiceClientConstructor;
  }
  return constructor;
}
