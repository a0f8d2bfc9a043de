/**
 * envoy.service.discovery.v3.AggregatedDiscoveryService as a grpc-js server definition, on the
 * protobufjs types meshlet already loads (envoy-protos.ts): the server side of the methods the
 * proxy's ADS client uses (../ads-service.ts), with the same message shapes. Responses carry
 * the snapshot's pre-encoded resources as Any bytes.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { envoyRoot, lookupMessageType } from '../envoy-protos';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../ads-service';

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function streamingMethod<Req, Res>(name: string): MethodDefinition<Req, Res> {
  const rpc = envoyRoot().lookupService(SERVICE).methods[name]!;
  const request = lookupMessageType(rpc.requestType)!;
  const response = lookupMessageType(rpc.responseType)!;
  // Plain objects with every field present (empty strings and lists when unset, null for an
  // absent message such as error_detail), as the shared interfaces describe them.
  const toObjectOptions = { defaults: true, arrays: true, objects: true };
  return {
    path: `/${SERVICE}/${name}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (message: Req) => Buffer.from(request.encode(request.fromObject(message as object)).finish()),
    requestDeserialize: (bytes: Buffer) => request.toObject(request.decode(bytes), toObjectOptions) as Req,
    responseSerialize: (message: Res) => Buffer.from(response.encode(response.fromObject(message as object)).finish()),
    responseDeserialize: (bytes: Buffer) => response.toObject(response.decode(bytes), toObjectOptions) as Res,
    originalName: name,
  };
}

export interface AdsServiceDefinition extends ServiceDefinition {
  readonly StreamAggregatedResources: MethodDefinition<DiscoveryRequest, DiscoveryResponse>;
  readonly DeltaAggregatedResources: MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
}

let definition: AdsServiceDefinition | undefined;

export function adsServiceDefinition(): AdsServiceDefinition {
  return (definition ??= {
    StreamAggregatedResources: streamingMethod('StreamAggregatedResources'),
    DeltaAggregatedResources: streamingMethod('DeltaAggregatedResources'),
  });
}

/** The parts of a request's core.v3.Node the control plane reads. */
export function nodeOf(request: { readonly node?: object | null }): { readonly id: string; readonly cluster: string } {
  const node = (request.node ?? {}) as { id?: string; cluster?: string };
  return { id: node.id ?? '', cluster: node.cluster ?? '' };
}
