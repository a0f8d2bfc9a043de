/**
 * The two ADS wire protocols behind one interface, so a connection handles either: each maps
 * its gRPC messages to and from the pure state machines in sotw-protocol.ts / delta-protocol.ts.
 */
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '../ads-service';
import type { NodeIdentity } from './ads-connection';
import { nodeOf } from './ads-service';
import { DELTA_INITIAL, deltaOnRequest, deltaOnSnapshot, type DeltaResponse, type DeltaState, type DeltaStep } from './delta-protocol';
import type { XdsResourceType } from '../xds-resource-types';
import type { ResourceSet } from './snapshot';
import { SOTW_INITIAL, sotwOnRequest, sotwOnSnapshot, type SotwResponse, type SotwState, type SotwStep } from './sotw-protocol';

export interface ProtocolStep<State, Response, Nack> {
  readonly state: State;
  readonly response?: Response;
  readonly nack?: Nack;
}

export interface XdsProtocol<Request, Reply, State, Response, Nack> {
  readonly name: 'sotw' | 'delta';
  readonly initial: State;
  typeUrl(request: Request): string;
  node(request: Request): NodeIdentity;
  /** `first`: the first request of this type on the stream. */
  onRequest(state: State, request: Request, resources: ResourceSet, nonce: string, first: boolean, type: XdsResourceType): ProtocolStep<State, Response, Nack>;
  onSnapshot(state: State, resources: ResourceSet, nonce: string, type: XdsResourceType): ProtocolStep<State, Response, Nack>;
  encode(type: XdsResourceType, response: Response): Reply;
  /** What a NACK log line says besides node and type. */
  nackFields(nack: Nack): Record<string, unknown>;
  /** The stream's state of one type, for /config_dump. */
  describe(state: State): Record<string, unknown>;
}

type SotwNack = NonNullable<SotwStep['nack']>;
type DeltaNack = NonNullable<DeltaStep['nack']>;

export const SOTW: XdsProtocol<DiscoveryRequest, DiscoveryResponse, SotwState, SotwResponse, SotwNack> = {
  name: 'sotw',
  initial: SOTW_INITIAL,
  typeUrl: (request) => request.type_url,
  node: nodeOf,
  // The wildcard types (LDS, CDS) are the ones whose every response must be complete.
  onRequest: (state, request, resources, nonce, _first, type) =>
    sotwOnRequest(
      state,
      {
        versionInfo: request.version_info,
        resourceNames: request.resource_names,
        responseNonce: request.response_nonce,
        // An absent message is null in the decoded request.
        ...(request.error_detail != null && { errorDetail: request.error_detail.message }),
      },
      resources,
      nonce,
      type.wildcard,
    ),
  onSnapshot: (state, resources, nonce, type) => sotwOnSnapshot(state, resources, nonce, type.wildcard),
  encode: (type, response) => ({
    version_info: response.versionInfo,
    resources: response.resources.map((r) => r.any),
    type_url: type.typeUrl,
    nonce: response.nonce,
  }),
  nackFields: (nack) => ({ rejected_version: nack.version, kept_version: nack.kept, error_detail: nack.message }),
  describe: (state) => ({
    subscription: state.subscription.wildcard ? ['*', ...state.subscription.names] : [...state.subscription.names],
    sent_version: state.sent?.version,
    acked_version: state.acked,
    nacked_version: state.nacked,
  }),
};

export const DELTA: XdsProtocol<DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaState, DeltaResponse, DeltaNack> = {
  name: 'delta',
  initial: DELTA_INITIAL,
  typeUrl: (request) => request.type_url,
  node: nodeOf,
  onRequest: (state, request, resources, nonce, first) =>
    deltaOnRequest(
      state,
      {
        subscribe: request.resource_names_subscribe,
        unsubscribe: request.resource_names_unsubscribe,
        initialVersions: request.initial_resource_versions,
        responseNonce: request.response_nonce,
        // An absent message is null in the decoded request.
        ...(request.error_detail != null && { errorDetail: request.error_detail.message }),
      },
      resources,
      nonce,
      first,
    ),
  onSnapshot: deltaOnSnapshot,
  encode: (type, response) => ({
    system_version_info: response.systemVersionInfo,
    resources: response.resources.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
    type_url: type.typeUrl,
    removed_resources: response.removed,
    nonce: response.nonce,
  }),
  nackFields: (nack) => ({ rejected_versions: Object.fromEntries(nack.versions), error_detail: nack.message }),
  describe: (state) => ({
    subscription: state.subscription.wildcard ? ['*', ...state.subscription.names] : [...state.subscription.names],
    client_versions: Object.fromEntries(state.known),
    rejected_versions: Object.fromEntries(state.rejected),
  }),
};
