/**
 * Incremental xDS (DeltaAggregatedResources), as Envoy's "xDS REST and gRPC protocol"
 * describes it: the client sends what it subscribes to and unsubscribes from, the server
 * sends only resources that changed (each with its own version) and the names it removed.
 * An ACK is the response's nonce; a NACK adds error_detail. On a new stream the first request
 * lists, in initial_resource_versions, what the client already holds, so the server can skip it.
 */
import { collectResources, sortedNames, type AdsProtocol, type Received } from './ads-protocol';
import { deltaMethod, invalidArgument, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './ads-service';
import { decodeResource, type XdsResourceType } from './xds-resource-types';

export interface DeltaState {
  readonly type: XdsResourceType;
  /** undefined: every resource (wildcard). */
  readonly names: ReadonlySet<string> | undefined;
  /** The resources held, with their versions; kept across streams. */
  readonly versions: ReadonlyMap<string, string>;
  /** What the server was told on this stream: the names, 'wildcard', or undefined before the first request. */
  readonly sent: ReadonlySet<string> | 'wildcard' | undefined;
}

function request(type: XdsResourceType, fields: Partial<DeltaDiscoveryRequest>): DeltaDiscoveryRequest {
  return {
    type_url: type.typeUrl,
    resource_names_subscribe: [],
    resource_names_unsubscribe: [],
    initial_resource_versions: {},
    response_nonce: '',
    ...fields,
  };
}

export const DELTA_PROTOCOL: AdsProtocol<DeltaState, DeltaDiscoveryRequest, DeltaDiscoveryResponse> = {
  method: deltaMethod,

  initial: (type, names) => ({ type, names, versions: new Map(), sent: undefined }),

  withNames(state, names) {
    // Unsubscribed resources are forgotten, so a later reconnect does not claim them.
    const versions = names === undefined ? state.versions : new Map([...state.versions].filter(([n]) => names.has(n)));
    return { ...state, names, versions };
  },

  newStream: (state) => ({ ...state, sent: undefined }),

  subscriptionRequest(state): [DeltaState, DeltaDiscoveryRequest | undefined] {
    const { names, sent, type } = state;
    if (sent === undefined) {
      if (names !== undefined && names.size === 0) return [state, undefined];
      // A wildcard is the empty subscribe list on the first request (the legacy form every server understands).
      const next: DeltaState = { ...state, sent: names ?? 'wildcard' };
      return [next, request(type, { resource_names_subscribe: names ? sortedNames(names) : [], initial_resource_versions: Object.fromEntries(state.versions) })];
    }
    if (names === undefined || sent === 'wildcard') return [state, undefined];
    const subscribe = sortedNames([...names].filter((n) => !sent.has(n)));
    const unsubscribe = sortedNames([...sent].filter((n) => !names.has(n)));
    if (subscribe.length === 0 && unsubscribe.length === 0) return [state, undefined];
    return [{ ...state, sent: names }, request(type, { resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe })];
  },

  receive(state, response): Received<DeltaState> {
    const wanted = (name: string) => state.names === undefined || state.names.has(name);
    const { resources, errors, names } = collectResources(response.resources ?? [], (r) => {
      if (!wanted(r.name)) return undefined;
      if (!r.resource) return { error: `${state.type.kind} "${r.name}": no resource (TTL heartbeats are not supported)` };
      return decodeResource(state.type, r.resource, r.version, r.name);
    });
    if (errors.length > 0) return { state, error: errors.join('\n'), names };
    const removed = (response.removed_resources ?? []).filter(wanted);
    return { state, update: { type: state.type, version: response.system_version_info, resources, removed } };
  },

  ack(state, response, update) {
    const versions = new Map(state.versions);
    for (const name of update.removed) versions.delete(name);
    for (const r of update.resources) versions.set(r.name, r.version);
    return [{ ...state, versions }, request(state.type, { response_nonce: response.nonce })];
  },

  nack: (state, response, error) => [state, request(state.type, { response_nonce: response.nonce, error_detail: invalidArgument(error) })],
};
