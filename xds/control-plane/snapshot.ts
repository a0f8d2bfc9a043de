/**
 * A snapshot: everything one kind of node is served, encoded and versioned. Snapshots are
 * immutable; a mesh change builds new ones and each stream compares versions to decide what
 * to push.
 *
 * A mesh of N services has N sidecar roles, and each gets every service's cluster, endpoints
 * and routes: a role's resources are therefore layers (what every node gets, then the role's
 * own), not copies, and a rebuild reuses what did not change (SnapshotCache): the encoded
 * resource, its checks, and the very set object, so a stream sees "same set, nothing to do"
 * by identity.
 */
import { ConfigError, type ConfigIssue } from '../config-error';
import { encodeDecoded, type EncodedAny } from '../proto-encode';
import { decodeJson } from '../proto-json';
import type { GeneratedResource } from './generated-resource';
import type { NodeResources } from './node-resources';
import type { XdsResourceType } from '../xds-resource-types';
import { RESOURCE_TYPES, messageTypeOf, type PerApi } from './resource-types';
import { combinedVersion, contentVersion } from './resource-version';

export interface VersionedResource {
  readonly name: string;
  readonly version: string;
  readonly onDemand: boolean;
  /** As generated (proto3 JSON), for /config_dump. */
  readonly json: Readonly<Record<string, unknown>>;
  /** decodeJson's normalized form, for validation with the proxy's own parsers. */
  readonly decoded: any;
  readonly any: EncodedAny;
}

/** What a stream is served of one type: a snapshot's LayeredResourceSet, or a node's own secrets. */
export type ResourceSet = ReadonlyMap<string, VersionedResource>;

/**
 * Resources of one type, in disjoint layers looked up in order; `version` hashes every name and
 * version in it, so equal versions mean equal sets.
 */
export class LayeredResourceSet implements ResourceSet {
  static readonly EMPTY = new LayeredResourceSet([], combinedVersion([]));
  readonly size: number;

  private constructor(
    private readonly layers: readonly ResourceSet[],
    readonly version: string,
  ) {
    this.size = layers.reduce((n, layer) => n + layer.size, 0);
  }

  static of(resources: ResourceSet): LayeredResourceSet {
    if (resources.size === 0) return LayeredResourceSet.EMPTY;
    // A resource's version is of its bytes; whether it is on demand is the set's business.
    const entries = [...resources.values()].map((r) => ({ name: r.name, version: r.onDemand ? `${r.version} on demand` : r.version }));
    return new LayeredResourceSet([resources], combinedVersion(entries));
  }

  /** `above`'s names must not be in `this` (buildSnapshot reports those). */
  over(above: LayeredResourceSet): LayeredResourceSet {
    if (above.size === 0) return this;
    if (this.size === 0) return above;
    return new LayeredResourceSet([...this.layers, ...above.layers], combinedVersion([this, above].map((set, i) => ({ name: String(i), version: set.version }))));
  }

  get(name: string): VersionedResource | undefined {
    for (const layer of this.layers) {
      const found = layer.get(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.layers.some((layer) => layer.has(name));
  }

  *entries(): MapIterator<[string, VersionedResource]> {
    for (const layer of this.layers) yield* layer.entries();
  }

  *keys(): MapIterator<string> {
    for (const layer of this.layers) yield* layer.keys();
  }

  *values(): MapIterator<VersionedResource> {
    for (const layer of this.layers) yield* layer.values();
  }

  [Symbol.iterator](): MapIterator<[string, VersionedResource]> {
    return this.entries();
  }

  forEach(callback: (value: VersionedResource, key: string, map: ResourceSet) => void): void {
    for (const [name, resource] of this) callback(resource, name, this);
  }
}

export interface Snapshot {
  /** The node role it was built for (node-role.ts). */
  readonly role: string;
  /** Of all resources: equal versions mean identical snapshots. */
  readonly version: string;
  readonly resources: PerApi<LayeredResourceSet>;
}

/**
 * What one build leaves for the next: encoded resources by content, and sets by version. An
 * entry the next build does not use is dropped by the one after, so the cache holds at most
 * two meshes' worth, whatever the churn.
 */
export class SnapshotCache {
  private current = new Map<string, unknown>();
  private previous = new Map<string, unknown>();

  /** A new build starts: what the last one used stays available to this one. */
  nextBuild(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  reuse<T>(key: string, make: () => T): T {
    let value = (this.current.get(key) ?? this.previous.get(key)) as T | undefined;
    if (value === undefined) value = make();
    this.current.set(key, value);
    return value;
  }
}

interface Encoded {
  readonly resource: VersionedResource | null;
  readonly issues: readonly ConfigIssue[];
}

/**
 * Encodes generated resources, remembering each by content (in `cache`, across builds) so a
 * resource that did not change is not encoded again and stays the same object. Problems are
 * collected with the resource's path (`CDS["web"].…`).
 */
export class ResourceEncoder {
  readonly issues: ConfigIssue[] = [];

  constructor(private readonly cache = new SnapshotCache()) {}

  encode(type: XdsResourceType, resource: GeneratedResource): VersionedResource | undefined {
    const key = `${type.api}\0${resource.onDemand === true}\0${JSON.stringify(resource.json)}`;
    const encoded = this.cache.reuse<Encoded>(key, () => encodeOnce(type, resource));
    this.issues.push(...encoded.issues);
    return encoded.resource ?? undefined;
  }

  /** One layer of resources per type; a name generated twice for `owner` is an issue. */
  layer(owner: string, generated: NodeResources): PerApi<LayeredResourceSet> {
    const layer = {} as Record<string, LayeredResourceSet>;
    for (const type of RESOURCE_TYPES) {
      const set = new Map<string, VersionedResource>();
      for (const resource of generated[type.api]) {
        if (set.has(resource.name)) this.issues.push({ path: resourcePath(type, resource.name), message: `generated twice for ${owner}` });
        const versioned = this.encode(type, resource);
        if (versioned && !set.has(versioned.name)) set.set(versioned.name, versioned);
      }
      layer[type.api] = this.reused(LayeredResourceSet.of(set));
    }
    return layer as PerApi<LayeredResourceSet>;
  }

  /** The set of the same version from this build or the last, if there is one. */
  reused(set: LayeredResourceSet): LayeredResourceSet {
    return this.cache.reuse(`set\0${set.version}`, () => set);
  }
}

function encodeOnce(type: XdsResourceType, resource: GeneratedResource): Encoded {
  try {
    return { resource: encodeResource(type, resource), issues: [] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { resource: null, issues: err.issues };
  }
}

/** @throws ConfigError when the resource does not decode as its type */
export function encodeResource(type: XdsResourceType, resource: GeneratedResource): VersionedResource {
  const decoded = decodeJson(messageTypeOf(type), resource.json, resourcePath(type, resource.name));
  const bytes = encodeDecoded(messageTypeOf(type), decoded);
  return {
    name: resource.name,
    version: contentVersion(bytes),
    onDemand: resource.onDemand === true,
    json: resource.json,
    decoded,
    any: { type_url: type.typeUrl, value: bytes },
  };
}

/** Where a generated resource's problems are reported: `RDS["outbound"]`. */
export function resourcePath(type: XdsResourceType, name: string): string {
  return `${type.api}[${JSON.stringify(name)}]`;
}

/**
 * A role's snapshot: the layers one over the other (ResourceEncoder.layer). A name in two
 * layers is an issue; the lower layer's resource is served.
 */
export function buildSnapshot(role: string, layers: readonly PerApi<LayeredResourceSet>[], encoder: ResourceEncoder): Snapshot {
  const resources = {} as Record<string, LayeredResourceSet>;
  for (const type of RESOURCE_TYPES) {
    let set = LayeredResourceSet.EMPTY;
    for (const layer of layers) {
      const above = layer[type.api];
      const twice = set.size === 0 ? [] : [...above.keys()].filter((name) => set.has(name));
      for (const name of twice) encoder.issues.push({ path: resourcePath(type, name), message: `generated twice for ${role}` });
      set = encoder.reused(set.over(twice.length === 0 ? above : LayeredResourceSet.of(new Map([...above].filter(([name]) => !set.has(name))))));
    }
    resources[type.api] = set;
  }
  const version = combinedVersion(RESOURCE_TYPES.map((type) => ({ name: type.api, version: resources[type.api]!.version })));
  return { role, version, resources: resources as PerApi<LayeredResourceSet> };
}
