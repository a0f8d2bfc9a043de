/**
 * One ADS stream from one node: keeps each resource type's protocol state, answers requests
 * and pushes snapshot changes. The protocol decisions are the pure state machines'; this only
 * routes messages to them and writes what they return.
 */
import type { PeerIdentity } from '../../proxy/tls/peer-identity';
import type { ProtocolStep, XdsProtocol } from './ads-protocols';
import type { XdsResourceType } from '../xds-resource-types';
import { RESOURCE_TYPES, resourceTypeOf, type XdsApi } from './resource-types';
import type { ResourceSet } from './snapshot';

export interface NodeIdentity {
  readonly id: string;
  readonly cluster: string;
}

/** What a connection needs from the control plane. */
export interface ConnectionHost {
  /** What the connection's node (known by then) is served of `type` now: its role's resources, or its own secrets. */
  resourcesFor(connection: AdsConnection, type: XdsResourceType): ResourceSet;
  /** A response was written; `changedAt` (performance.now()) when it pushes a mesh change. */
  responded(connection: AdsConnection, type: XdsResourceType, changedAt: number | undefined): void;
  nacked(connection: AdsConnection, type: XdsResourceType, fields: Record<string, unknown>): void;
  unsupportedType(connection: AdsConnection, typeUrl: string): void;
}

export class AdsConnection<Request = any, Reply = any, State = any, Response = any, Nack = any> {
  /** From the first request (only the first is guaranteed to carry it). */
  node: NodeIdentity | undefined;
  private readonly states = new Map<XdsApi, State>();
  private sentResponses = 0;

  constructor(
    readonly protocol: XdsProtocol<Request, Reply, State, Response, Nack>,
    private readonly write: (reply: Reply) => void,
    private readonly host: ConnectionHost,
    /** The client certificate the stream's TLS handshake verified; undefined on plaintext or without client authentication. */
    readonly peer: PeerIdentity | undefined = undefined,
    /** Ends the stream with PERMISSION_DENIED and `details` (the server's; a no-op in tests without one). */
    private readonly refuse: (details: string) => void = () => undefined,
  ) {}

  /** The node may not be served (any more): its stream is ended with PERMISSION_DENIED. */
  deny(details: string): void {
    this.refuse(details);
  }

  onRequest(request: Request): void {
    this.node ??= this.protocol.node(request);
    const typeUrl = this.protocol.typeUrl(request);
    const type = resourceTypeOf(typeUrl);
    if (type === undefined) {
      this.host.unsupportedType(this, typeUrl);
      return;
    }
    const previous = this.states.get(type.api);
    const resources = this.host.resourcesFor(this, type);
    const step = this.protocol.onRequest(previous ?? this.protocol.initial, request, resources, this.nextNonce(), previous === undefined, type);
    this.apply(type, step, undefined);
  }

  /**
   * The mesh changed (detected at `changedAt`), or the node's certificate was renewed: push, in
   * make-before-break order, what changed for this node.
   */
  push(changedAt?: number): void {
    if (this.node === undefined) return;
    for (const type of RESOURCE_TYPES) {
      const state = this.states.get(type.api);
      if (state !== undefined) this.apply(type, this.protocol.onSnapshot(state, this.host.resourcesFor(this, type), this.nextNonce(), type), changedAt);
    }
  }

  /** Per type, what the client subscribes to and holds, for /config_dump. */
  describe(): Record<string, unknown> {
    return Object.fromEntries([...this.states].map(([api, state]) => [api, this.protocol.describe(state)]));
  }

  /** Unique on the stream; only consumed when a response uses it. */
  private nextNonce(): string {
    return String(this.sentResponses + 1);
  }

  private apply(type: XdsResourceType, step: ProtocolStep<State, Response, Nack>, changedAt: number | undefined): void {
    this.states.set(type.api, step.state);
    if (step.nack !== undefined) this.host.nacked(this, type, this.protocol.nackFields(step.nack));
    if (step.response !== undefined) {
      this.sentResponses++;
      this.write(this.protocol.encode(type, step.response));
      this.host.responded(this, type, changedAt);
    }
  }
}
