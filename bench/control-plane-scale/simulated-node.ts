/**
 * One simulated sidecar on its own ADS stream (and its own TCP connection), subscribing the way
 * Envoy does: CDS and LDS by wildcard, then EDS for the EDS clusters CDS named and RDS for the
 * route configurations the listeners name, ACKing every response with its version and nonce
 * so the control plane keeps pushing. Resources are not applied: the node records when its
 * initial configuration was complete and when an awaited endpoint change arrived.
 *
 * The message types are meshlet's own (xds/ads-service.ts, from the Envoy protos), not a copy.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import {
  deltaMethod,
  sotwMethod,
  type AdsMethod,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../xds/ads-service';
import { typeNameOf } from '../../xds/envoy-protos';
import { decodeAny, decodeBinary } from '../../xds/proto-binary';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../../xds/xds-resource-types';
import type { AnyMessage } from '../../xds/xds-resource-types';
import { assignmentHasPort, routeNamesOfListener } from './resource-checks';
import { CLUSTER_TYPE_EDS, wireSummary } from './wire-fields';

export type AdsFlavor = 'sotw' | 'delta';

/** The update a node waits for: the ClusterLoadAssignment of `cluster` with an endpoint on `port`. */
export interface AwaitedChange {
  readonly cluster: string;
  readonly port: number;
}

/** A resource as either protocol delivers it: Delta names it, SotW leaves the name in the bytes. */
interface Delivered {
  readonly name: string;
  readonly any: AnyMessage;
}

type TypeUrl = string;

const RECONNECT_DELAY_MS = 250;

export class SimulatedNode {
  /** performance.now() when CDS, LDS and every EDS and RDS resource they named had arrived. */
  readyAt: number | undefined;
  /** performance.now() when the awaited change arrived. */
  changeSeenAt: number | undefined;
  streamErrors = 0;
  responses = 0;
  lastError: string | undefined;

  private readonly client: grpc.Client;
  private call: grpc.ClientDuplexStream<any, any> | undefined;
  private closed = false;
  private nodeSent = false;
  private awaited: AwaitedChange | undefined;
  /** Per type: the names subscribed (EDS, RDS; CDS and LDS are wildcards), and what has arrived. */
  private wanted = new Map<TypeUrl, string[]>();
  private have = new Map<TypeUrl, Set<string>>();
  /** SotW: the last version and nonce per type, for the next request of that type. */
  private sotwAck = new Map<TypeUrl, { version: string; nonce: string }>();

  constructor(
    target: string,
    private readonly flavor: AdsFlavor,
    private readonly node: { readonly id: string; readonly cluster: string },
  ) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      // grpc-js shares one connection among channels with the same target by default; 500
      // sidecars are 500 connections.
      'grpc.use_local_subchannel_pool': 1,
      // A SotW response carries every cluster (or assignment) of the mesh at once.
      'grpc.max_receive_message_length': -1,
    });
  }

  start(): void {
    if (this.closed) return;
    const method = (this.flavor === 'sotw' ? sotwMethod() : deltaMethod()) as AdsMethod<any, any>;
    const call = this.client.makeBidiStreamRequest(method.path, method.serialize, method.deserialize);
    this.call = call;
    this.nodeSent = false;
    this.wanted = new Map();
    this.have = new Map();
    this.sotwAck = new Map();
    call.on('data', (response: DiscoveryResponse | DeltaDiscoveryResponse) => this.onResponse(response));
    call.on('error', (err: Error) => (this.lastError = err.message));
    call.on('status', () => this.onStreamEnd(call));
    this.subscribe(CLUSTER.typeUrl, []);
    this.subscribe(LISTENER.typeUrl, []);
  }

  /** From now on, `changeSeenAt` is set when `change` arrives. */
  await(change: AwaitedChange): void {
    this.awaited = change;
    this.changeSeenAt = undefined;
  }

  close(): void {
    this.closed = true;
    this.call?.cancel();
    this.client.close();
  }

  /** A stream that ends is restarted from scratch, as Envoy would after its backoff; the count shows in the results. */
  private onStreamEnd(call: grpc.ClientDuplexStream<any, any>): void {
    if (this.closed || this.call !== call) return;
    this.streamErrors++;
    this.call = undefined;
    setTimeout(() => this.start(), RECONNECT_DELAY_MS).unref();
  }

  private onResponse(response: DiscoveryResponse | DeltaDiscoveryResponse): void {
    const now = performance.now();
    this.responses++;
    const typeUrl = response.type_url;
    const delivered = 'version_info' in response ? this.sotwDelivered(response) : this.deltaDelivered(response);
    const names = delivered.map((d) => d.name);
    // SotW: the response is the whole set; Delta: additions to it.
    const have = 'version_info' in response ? new Set(names) : new Set([...(this.have.get(typeUrl) ?? []), ...names]);
    if ('removed_resources' in response) for (const name of response.removed_resources) have.delete(name);
    this.have.set(typeUrl, have);
    this.ack(response);
    if (typeUrl === CLUSTER.typeUrl) this.subscribe(CLUSTER_LOAD_ASSIGNMENT.typeUrl, edsClusters(delivered, this.wanted.get(CLUSTER_LOAD_ASSIGNMENT.typeUrl), 'version_info' in response));
    else if (typeUrl === LISTENER.typeUrl) this.subscribe(ROUTE_CONFIGURATION.typeUrl, delivered.flatMap((d) => routeNamesOfListener(decodeAny(d.any))));
    else if (typeUrl === CLUSTER_LOAD_ASSIGNMENT.typeUrl) this.checkAwaited(delivered, now);
    if (this.readyAt === undefined && this.complete()) this.readyAt = now;
  }

  private sotwDelivered(response: DiscoveryResponse): Delivered[] {
    return response.resources.map((any) => ({ name: wireSummary(any.value).name, any }));
  }

  private deltaDelivered(response: DeltaDiscoveryResponse): Delivered[] {
    return response.resources.flatMap((r) => (r.resource ? [{ name: r.name, any: r.resource }] : []));
  }

  private checkAwaited(delivered: readonly Delivered[], now: number): void {
    const awaited = this.awaited;
    if (awaited === undefined || this.changeSeenAt !== undefined) return;
    const assignment = delivered.find((d) => d.name === awaited.cluster);
    // Only the one awaited assignment is decoded: the rest of a SotW response is not looked at.
    if (assignment && assignmentHasPort(decodeBinary(typeNameOf(CLUSTER_LOAD_ASSIGNMENT.typeUrl), assignment.any.value), awaited.port)) {
      this.changeSeenAt = now;
    }
  }

  /** Everything CDS and LDS named has arrived (they themselves have, too). */
  private complete(): boolean {
    if (!this.have.has(CLUSTER.typeUrl) || !this.have.has(LISTENER.typeUrl)) return false;
    for (const typeUrl of [CLUSTER_LOAD_ASSIGNMENT.typeUrl, ROUTE_CONFIGURATION.typeUrl]) {
      const wanted = this.wanted.get(typeUrl);
      const have = this.have.get(typeUrl);
      if (wanted === undefined || wanted.length === 0) return false;
      if (have === undefined || wanted.some((n) => !have.has(n))) return false;
    }
    return true;
  }

  /**
   * Sets the names of a type and, if they changed, tells the server. CDS and LDS are subscribed
   * once per stream with no names: the legacy wildcard of both protocols, as Envoy sends it.
   */
  private subscribe(typeUrl: TypeUrl, names: readonly string[]): void {
    const previous = this.wanted.get(typeUrl);
    if (previous !== undefined && sameNames(previous, names)) return;
    this.wanted.set(typeUrl, [...names]);
    if (this.flavor === 'sotw') {
      const last = this.sotwAck.get(typeUrl);
      this.send({ version_info: last?.version ?? '', resource_names: names, type_url: typeUrl, response_nonce: last?.nonce ?? '' } satisfies DiscoveryRequest);
    } else {
      const before = new Set(previous ?? []);
      const after = new Set(names);
      this.send({
        type_url: typeUrl,
        resource_names_subscribe: names.filter((n) => !before.has(n)),
        resource_names_unsubscribe: [...before].filter((n) => !after.has(n)),
        initial_resource_versions: {},
        response_nonce: '',
      } satisfies DeltaDiscoveryRequest);
    }
  }

  private ack(response: DiscoveryResponse | DeltaDiscoveryResponse): void {
    const typeUrl = response.type_url;
    if ('version_info' in response) {
      this.sotwAck.set(typeUrl, { version: response.version_info, nonce: response.nonce });
      this.send({ version_info: response.version_info, resource_names: this.wanted.get(typeUrl) ?? [], type_url: typeUrl, response_nonce: response.nonce } satisfies DiscoveryRequest);
    } else {
      this.send({ type_url: typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: response.nonce } satisfies DeltaDiscoveryRequest);
    }
  }

  /** The node goes on the first request of each stream only, as Envoy's set_node_on_first_message_only. */
  private send(request: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (this.call === undefined) return;
    const withNode = this.nodeSent ? request : { ...request, node: { id: this.node.id, cluster: this.node.cluster } };
    this.nodeSent = true;
    this.call.write(withNode);
  }
}

/**
 * The EDS names after a CDS response: SotW lists every cluster, so the names are exactly its EDS
 * clusters; a Delta response lists only what changed, so its EDS clusters join the current ones.
 */
function edsClusters(delivered: readonly Delivered[], current: readonly string[] | undefined, wholeSet: boolean): string[] {
  const names = delivered.flatMap((d) => {
    const summary = wireSummary(d.any.value);
    return summary.field2 === CLUSTER_TYPE_EDS ? [d.name] : [];
  });
  return wholeSet ? names : [...new Set([...(current ?? []), ...names])];
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((n) => set.has(n));
}
