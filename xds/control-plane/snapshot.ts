/**
 * A snapshot: everything one kind of node is served, encoded and versioned. Snapshots are
 * immutable; a mesh change builds new ones and each stream compares versions to decide what
 * to push.
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

export type ResourceSet = ReadonlyMap<string, VersionedResource>;

export interface Snapshot {
  /** The node role it was built for (node-role.ts). */
  readonly role: string;
  /** Of all resources: equal versions mean identical snapshots. */
  readonly version: string;
  readonly resources: PerApi<ResourceSet>;
}

/**
 * Encodes generated resources, remembering each by identity so resources shared by every role
 * are encoded once per mesh. Problems are collected with the resource's path (`CDS["web"].…`).
 */
export class ResourceEncoder {
  private readonly cache = new WeakMap<GeneratedResource, VersionedResource | null>();
  readonly issues: ConfigIssue[] = [];

  encode(type: XdsResourceType, resource: GeneratedResource): VersionedResource | undefined {
    let versioned = this.cache.get(resource);
    if (versioned === undefined) {
      versioned = this.encodeOnce(type, resource);
      this.cache.set(resource, versioned);
    }
    return versioned ?? undefined;
  }

  private encodeOnce(type: XdsResourceType, resource: GeneratedResource): VersionedResource | null {
    try {
      return encodeResource(type, resource);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.issues.push(...err.issues);
      return null;
    }
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

/** A snapshot of the union of the given resource lists; a name given twice is an issue. */
export function buildSnapshot(role: string, parts: readonly NodeResources[], encoder: ResourceEncoder): Snapshot {
  const resources = {} as Record<string, ResourceSet>;
  const versions: Array<{ name: string; version: string }> = [];
  for (const type of RESOURCE_TYPES) {
    const set = new Map<string, VersionedResource>();
    for (const generated of parts.flatMap((part) => part[type.api])) {
      if (set.has(generated.name)) {
        encoder.issues.push({ path: resourcePath(type, generated.name), message: `generated twice for ${role}` });
        continue;
      }
      const versioned = encoder.encode(type, generated);
      if (versioned) set.set(versioned.name, versioned);
    }
    resources[type.api] = set;
    for (const r of set.values()) versions.push({ name: `${type.api}/${r.name}`, version: r.version });
  }
  return { role, version: combinedVersion(versions), resources: resources as PerApi<ResourceSet> };
}
