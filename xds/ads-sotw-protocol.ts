/**
 * State of the world (StreamAggregatedResources), as Envoy's "xDS REST and gRPC protocol"
 * describes it. Every response holds all the resources of its type the client asked for: for
 * the wildcard types (LDS, CDS) a resource missing from a response is removed; for RDS and EDS
 * the client names what it wants and absence means nothing. An ACK repeats the response's
 * version_info and nonce; a NACK sends the previous version with the nonce and error_detail.
 */
import { collectResources, sortedNames, type AdsProtocol, type Received } from './ads-protocol';
import { invalidArgument, sotwMethod, type DiscoveryRequest, type DiscoveryResponse, type ErrorDetail } from './ads-service';
import { decodeResource, type XdsResourceType, type XdsUpdate } from './xds-resource-types';

export interface SotwState {
  readonly type: XdsResourceType;
  /** undefined: every resource (wildcard). */
  readonly names: ReadonlySet<string> | undefined;
  /** version_info of the last accepted response; kept across streams, so a reconnect says what it has. */
  readonly version: string;
  /** Wildcard types: the resources of the last accepted response. */
  readonly held: ReadonlySet<string>;
  /** The nonce of the last response on this stream (requests carry it, or the server takes them as stale). */
  readonly nonce: string;
  /** The subscription last sent on this stream (subscriptionKey), undefined before the first request. */
  readonly sent: string | undefined;
}

function subscriptionKey(state: SotwState): string {
  return state.names === undefined ? '*' : sortedNames(state.names).join('\n');
}

function request(state: SotwState, errorDetail?: ErrorDetail): DiscoveryRequest {
  return {
    version_info: state.version,
    // A wildcard subscription is the empty list (the legacy form every server understands).
    resource_names: state.names === undefined ? [] : sortedNames(state.names),
    type_url: state.type.typeUrl,
    response_nonce: state.nonce,
    error_detail: errorDetail,
  };
}

export const SOTW_PROTOCOL: AdsProtocol<SotwState, DiscoveryRequest, DiscoveryResponse> = {
  method: sotwMethod,

  initial: (type, names) => ({ type, names, version: '', held: new Set(), nonce: '', sent: undefined }),

  withNames: (state, names) => ({ ...state, names }),

  newStream: (state) => ({ ...state, nonce: '', sent: undefined }),

  subscriptionRequest(state) {
    const key = subscriptionKey(state);
    if (state.sent === key) return [state, undefined];
    // Nothing named yet and nothing asked before on this stream: nothing to say.
    if (state.sent === undefined && key === '') return [state, undefined];
    const next = { ...state, sent: key };
    return [next, request(next)];
  },

  receive(state, response): Received<SotwState> {
    const next = { ...state, nonce: response.nonce };
    const { resources, errors, names } = collectResources(response.resources ?? [], (any) => {
      const decoded = decodeResource(state.type, any, response.version_info);
      // Resources the client did not ask for (any more) are ignored, as Envoy does.
      if ('name' in decoded && state.names !== undefined && !state.names.has(decoded.name)) return undefined;
      return decoded;
    });
    if (errors.length > 0) return { state: next, error: errors.join('\n'), names };
    const present = new Set(names);
    const removed = state.names === undefined ? [...state.held].filter((n) => !present.has(n)) : [];
    return { state: next, update: { type: state.type, version: response.version_info, resources, removed } };
  },

  ack(state, response, update: XdsUpdate) {
    const next: SotwState = {
      ...state,
      version: response.version_info,
      held: state.names === undefined ? new Set(update.resources.map((r) => r.name)) : state.held,
      sent: subscriptionKey(state),
    };
    return [next, request(next)];
  },

  nack(state, _response, error) {
    const next = { ...state, sent: subscriptionKey(state) };
    // The version stays the last accepted one: that is what makes this a NACK.
    return [next, request(next, invalidArgument(error))];
  },
};
