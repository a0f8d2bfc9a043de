/**
 * The two ADS methods and their messages, from the real Envoy protos (discovery.proto and
 * ads.proto, loaded in envoy-protos.ts): requests are encoded from plain objects, responses
 * decoded by protobufjs with each resource left as encoded bytes in its Any, so every
 * resource is decoded (and validated) on its own with decodeAny.
 */
import { envoyRoot, lookupMessageType } from './envoy-protos';
import type { AnyMessage } from './xds-resource-types';

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** google.rpc.Status in a NACK. */
export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface DiscoveryRequest {
  readonly version_info: string;
  readonly node?: object;
  readonly resource_names: readonly string[];
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail?: ErrorDetail;
}

export interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyMessage[];
  readonly type_url: string;
  readonly nonce: string;
}

export interface DeltaDiscoveryRequest {
  readonly node?: object;
  readonly type_url: string;
  readonly resource_names_subscribe: readonly string[];
  readonly resource_names_unsubscribe: readonly string[];
  readonly initial_resource_versions: Readonly<Record<string, string>>;
  readonly response_nonce: string;
  readonly error_detail?: ErrorDetail;
}

export interface DeltaResource {
  readonly name: string;
  readonly version: string;
  /** Absent in a TTL heartbeat. */
  readonly resource?: AnyMessage | null;
}

export interface DeltaDiscoveryResponse {
  readonly system_version_info: string;
  readonly resources: readonly DeltaResource[];
  readonly type_url: string;
  readonly removed_resources: readonly string[];
  readonly nonce: string;
}

/** A streaming method as grpc-js's makeBidiStreamRequest takes it. */
export interface AdsMethod<Req, Res> {
  readonly path: string;
  serialize(request: Req): Buffer;
  deserialize(bytes: Buffer): Res;
}

function method<Req extends object, Res>(name: string): AdsMethod<Req, Res> {
  const service = envoyRoot().lookupService(SERVICE);
  const rpc = service.methods[name]!;
  const request = lookupMessageType(rpc.requestType)!;
  const response = lookupMessageType(rpc.responseType)!;
  return {
    path: `/${SERVICE}/${name}`,
    serialize: (r) => Buffer.from(request.encode(request.fromObject(r)).finish()),
    deserialize: (bytes) => response.decode(bytes) as unknown as Res,
  };
}

let sotw: AdsMethod<DiscoveryRequest, DiscoveryResponse> | undefined;
let delta: AdsMethod<DeltaDiscoveryRequest, DeltaDiscoveryResponse> | undefined;

/** StreamAggregatedResources: state of the world. */
export function sotwMethod(): AdsMethod<DiscoveryRequest, DiscoveryResponse> {
  return (sotw ??= method('StreamAggregatedResources'));
}

/** DeltaAggregatedResources: incremental. */
export function deltaMethod(): AdsMethod<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  return (delta ??= method('DeltaAggregatedResources'));
}

/** NACK status: google.rpc.Code INVALID_ARGUMENT, as Envoy sends. */
export function invalidArgument(message: string): ErrorDetail {
  return { code: 3, message };
}
