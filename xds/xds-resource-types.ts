/**
 * The xDS resource types meshlet subscribes to, what one update of them is, and how a
 * resource is decoded from the wire. Everything past this file sees decoded resources in the
 * normalized form of proto-json.ts, whether they came over SotW or Delta.
 */
import * as protobuf from 'protobufjs';
import { ConfigError, type ConfigIssue } from './config-error';
import { decodeAny } from './proto-binary';

export interface XdsResourceType {
  /** The message name, used in NACK messages: `Cluster "backend": lb_policy: ...`. */
  readonly kind: 'Listener' | 'RouteConfiguration' | 'Cluster' | 'ClusterLoadAssignment' | 'Secret';
  readonly api: 'LDS' | 'RDS' | 'CDS' | 'EDS' | 'SDS';
  readonly typeUrl: string;
  /** LDS and CDS: the client takes every resource the server has for it; RDS and EDS: the ones it names. */
  readonly wildcard: boolean;
  /** The field holding a resource's name. */
  readonly nameField: 'name' | 'cluster_name';
}

export const LISTENER: XdsResourceType = {
  kind: 'Listener',
  api: 'LDS',
  typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  wildcard: true,
  nameField: 'name',
};
export const ROUTE_CONFIGURATION: XdsResourceType = {
  kind: 'RouteConfiguration',
  api: 'RDS',
  typeUrl: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  wildcard: false,
  nameField: 'name',
};
export const CLUSTER: XdsResourceType = {
  kind: 'Cluster',
  api: 'CDS',
  typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  wildcard: true,
  nameField: 'name',
};
export const CLUSTER_LOAD_ASSIGNMENT: XdsResourceType = {
  kind: 'ClusterLoadAssignment',
  api: 'EDS',
  typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  wildcard: false,
  nameField: 'cluster_name',
};

/** SDS: certificates and trust bundles, by name (Envoy's `sds_config: {ads: {}}`). */
export const SECRET: XdsResourceType = {
  kind: 'Secret',
  api: 'SDS',
  typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  wildcard: false,
  nameField: 'name',
};

/** One resource of an update, decoded. */
export interface XdsResource {
  readonly name: string;
  /** SotW: the response's version_info; Delta: the resource's own version. */
  readonly version: string;
  /** The decoded message (proto-json.ts normalized form, with '@type'). */
  readonly value: any;
  /** The encoded message: SotW repeats unchanged resources, and equal bytes mean nothing to re-apply. */
  readonly bytes: Uint8Array;
}

/** What the client hands over to be applied; SotW and Delta look the same from here on. */
export interface XdsUpdate {
  readonly type: XdsResourceType;
  /** SotW version_info; Delta system_version_info (informational). */
  readonly version: string;
  readonly resources: readonly XdsResource[];
  /** Names the server removed: absent from a SotW LDS/CDS response, or Delta removed_resources. */
  readonly removed: readonly string[];
}

/** google.protobuf.Any as protobufjs decodes it off the wire: the resource still encoded. */
export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/**
 * Decodes one resource of `type` (validating it against the protos and their PGV rules).
 * `name` is the Delta Resource's name, which must match the message's.
 */
export function decodeResource(type: XdsResourceType, any: AnyMessage, version: string, name?: string): XdsResource | { error: string } {
  const label = name === undefined ? `${type.kind} resource` : `${type.kind} "${name}"`;
  if (any.type_url.slice(any.type_url.lastIndexOf('/') + 1) !== type.typeUrl.slice(type.typeUrl.lastIndexOf('/') + 1)) {
    return { error: `${label}: type_url is ${any.type_url}, expected ${type.typeUrl}` };
  }
  let value: any;
  try {
    value = decodeAny(any);
  } catch (err) {
    // Anything else is a decoder bug meeting odd bytes: still this resource's NACK, never the process's end.
    const issues = err instanceof ConfigError ? err.issues : [{ path: '', message: `meshlet cannot decode it: ${(err as Error).message}` }];
    return { error: resourceError(type, name ?? nameIn(any, type), issues) };
  }
  const own: string = value[type.nameField] ?? '';
  if (own === '') return { error: `${label}: ${type.nameField}: required` };
  if (name !== undefined && name !== own) return { error: `${label}: ${type.nameField} is "${own}", not the resource name` };
  return { name: own, version, value, bytes: any.value };
}

/** The NACK message for one resource: `Cluster "backend": lb_policy: MAGLEV is not supported`, one line per issue. */
export function resourceError(type: XdsResourceType, name: string, issues: readonly ConfigIssue[]): string {
  // Parsers prefix paths to the resource's root, '' here; drop the dot that leaves.
  const lines = issues.map((i) => {
    const path = i.path.startsWith('.') ? i.path.slice(1) : i.path;
    return `${type.kind} "${name}": ${path === '' ? '' : `${path}: `}${i.message}`;
  });
  return [...new Set(lines)].join('\n');
}

/** The name of a resource that failed to decode, for its NACK message, if the bytes hold it at all. */
function nameIn(any: AnyMessage, type: XdsResourceType): string {
  // Both name fields are field 1 (string) in their messages: read just that, without validation.
  try {
    const reader = new protobuf.Reader(any.value);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag === 10) return reader.string();
      reader.skipType(tag & 7);
    }
  } catch {
    // malformed: no name to show
  }
  return `(unnamed ${type.kind})`;
}

/** A resource as the proxy holds it: parsed once, with what /config_dump shows about it. */
export interface Versioned<T> {
  readonly value: T;
  readonly version: string;
  readonly lastUpdated: Date;
  /** The decoded message, for /config_dump. */
  readonly source: unknown;
  /** undefined for static (bootstrap) resources. */
  readonly bytes: Uint8Array | undefined;
}

export function versioned<T>(resource: XdsResource, value: T): Versioned<T> {
  return { value, version: resource.version, lastUpdated: new Date(), source: resource.value, bytes: resource.bytes };
}

/** A bootstrap resource that takes part of its config over ADS (a static EDS cluster or RDS listener). */
export function fromBootstrap<T extends { readonly source: unknown }>(value: T): Versioned<T> {
  return { value, version: '', lastUpdated: new Date(), source: value.source, bytes: undefined };
}

/** Whether `resource` is what the proxy already holds: SotW repeats every resource in each response. */
export function unchanged(held: Versioned<unknown> | undefined, resource: XdsResource): boolean {
  return held?.bytes !== undefined && Buffer.compare(held.bytes, resource.bytes) === 0;
}
