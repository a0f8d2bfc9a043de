/**
 * Config decoder fuzz target. Inputs are generated from valid seeds (config-seeds.ts) by
 * structural mutation (json-mutator.ts) or, for xDS resources, byte mutation of their protobuf
 * encoding. Property: decoding and parsing an input either succeeds or throws ConfigError
 * (decodeResource: returns `{error}`); any other exception is a failure.
 *
 * Entry points: bootstrap documents through `parseBootstrap`, bootstrap files (YAML/JSON text)
 * through `loadBootstrapFile`, Listener/Cluster/RouteConfiguration/ClusterLoadAssignment/Secret
 * JSON through `decodeJson`, and protobuf bytes through `decodeResource` (the xDS client's path);
 * resources that decode are then parsed as the xDS consumers do (xds-clusters.ts, xds-listeners.ts).
 *
 * This module is synchronous and process-agnostic; config-runner.ts runs it in a worker thread
 * with a watchdog so that a hang is caught and reported with its input.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { loadBootstrapFile, parseBootstrap } from '../../../proxy/config/bootstrap';
import { parseCluster, parseLoadAssignment } from '../../../proxy/config/cluster-parser';
import { compileRoutes, parseListener } from '../../../proxy/config/listener-parser';
import { parseSecret } from '../../../proxy/tls/secret';
import { ConfigError, type ConfigIssue } from '../../../xds/config-error';
import { lookupMessageType, typeUrlOf } from '../../../xds/envoy-protos';
import { encodeAny, encodeDecoded } from '../../../xds/proto-encode';
import { decodeJson } from '../../../xds/proto-json';
import {
  CLUSTER,
  CLUSTER_LOAD_ASSIGNMENT,
  LISTENER,
  ROUTE_CONFIGURATION,
  SECRET,
  decodeResource,
  type XdsResourceType,
} from '../../../xds/xds-resource-types';
import { Rng } from '../lib/rng';
import { RESOURCE_TYPE_NAMES, TYPE_URLS, bootstrapSeeds, resourceSeeds, type ResourceKind } from './config-seeds';
import { mutateWire } from './wire-mutator';
import { harvest, mutateDocument, randomString, structuredCloneSafe, type MutatorOptions } from './json-mutator';

export type ConfigInput =
  | { readonly kind: 'bootstrap'; readonly seed: string; readonly doc: unknown }
  | { readonly kind: 'bootstrap-file'; readonly seed: string; readonly ext: 'yaml' | 'json'; readonly text: string }
  | { readonly kind: 'resource-json'; readonly resource: ResourceKind; readonly doc: unknown }
  | {
      readonly kind: 'resource-binary';
      readonly resource: ResourceKind;
      readonly how: string;
      readonly typeUrl: string;
      readonly bytes: Buffer;
      /** A Delta resource's name, checked against the message's. */
      readonly name?: string;
    };

export type ConfigOutcome = 'accepted' | 'rejected';

export interface ConfigTargetOptions {
  /** The deepest nesting a depth bomb builds (JSON and protobuf). */
  readonly maxDepth: number;
}

const XDS_TYPES: Record<ResourceKind, XdsResourceType> = {
  Listener: LISTENER,
  Cluster: CLUSTER,
  RouteConfiguration: ROUTE_CONFIGURATION,
  ClusterLoadAssignment: CLUSTER_LOAD_ASSIGNMENT,
  Secret: SECRET,
};
const RESOURCE_KINDS = Object.keys(XDS_TYPES) as ResourceKind[];
/** Cluster and secret names that the seeds' routes and TLS contexts refer to. */
const KNOWN_CLUSTERS = new Set(['up', 'backend', 'canary', 'web', 'api', 'xds_cluster', 'eds_cluster', 'local_service', 'service']);
const KNOWN_SECRETS = new Set(['server-cert', 'trust', 'default', 'ROOTCA']);

interface BinarySeed {
  readonly resource: ResourceKind;
  readonly bytes: Buffer;
  readonly normalized: unknown;
}

export class ConfigTarget {
  readonly bootstraps: readonly { name: string; doc: unknown }[];
  readonly resources: readonly { kind: ResourceKind; doc: unknown }[];
  private readonly binaries: readonly BinarySeed[];
  private readonly mutator: MutatorOptions;
  private tmpDir: string | undefined;

  constructor(readonly options: ConfigTargetOptions) {
    this.bootstraps = bootstrapSeeds();
    this.resources = resourceSeeds(this.bootstraps);
    const binaries: BinarySeed[] = [];
    for (const r of this.resources) {
      try {
        const typeName = RESOURCE_TYPE_NAMES[r.kind];
        binaries.push({ resource: r.kind, bytes: Buffer.from(encodeAny(typeName, r.doc).value), normalized: decodeJson(typeName, r.doc) });
      } catch {
        // a seed that does not decode has no encoding; its JSON is still mutated
      }
    }
    this.binaries = binaries;
    const { keys, donors } = harvest([...this.bootstraps.map((b) => b.doc), ...this.resources.map((r) => r.doc)]);
    this.mutator = { keys, donors, typeUrls: TYPE_URLS, maxDepth: options.maxDepth };
  }

  /** Input `index` of the run with `seed`: the same pair always gives the same input. */
  generate(seed: number, index: number): ConfigInput {
    const rng = Rng.forCase(seed, index);
    const kind = rng.weighted<ConfigInput['kind']>([
      [4, 'bootstrap'],
      [1, 'bootstrap-file'],
      [3, 'resource-json'],
      [4, 'resource-binary'],
    ]);
    switch (kind) {
      case 'bootstrap': {
        const seedDoc = rng.pick(this.bootstraps);
        return { kind, seed: seedDoc.name, doc: mutateDocument(rng, structuredCloneSafe(seedDoc.doc), this.mutator) };
      }
      case 'bootstrap-file':
        return this.generateFile(rng);
      case 'resource-json': {
        const r = rng.pick(this.resources);
        return { kind, resource: r.kind, doc: mutateDocument(rng, structuredCloneSafe(r.doc), this.mutator) };
      }
      case 'resource-binary':
        return this.generateBinary(rng);
    }
  }

  private generateFile(rng: Rng): ConfigInput {
    const seedDoc = rng.pick(this.bootstraps);
    const doc = rng.chance(0.5) ? mutateDocument(rng, structuredCloneSafe(seedDoc.doc), this.mutator, 3) : seedDoc.doc;
    const ext = rng.chance(0.8) ? 'yaml' : 'json';
    let text: string;
    try {
      text = ext === 'json' ? JSON.stringify(doc) : stringifyYaml(doc, { aliasDuplicateObjects: false });
    } catch {
      text = String(doc);
    }
    const edits = rng.smallCount(4);
    for (let i = 0; i < edits; i++) text = mutateText(rng, text);
    return { kind: 'bootstrap-file', seed: seedDoc.name, ext, text };
  }

  private generateBinary(rng: Rng): ConfigInput {
    const resource = rng.pick(RESOURCE_KINDS);
    const typeUrl = rng.chance(0.93) ? XDS_TYPES[resource].typeUrl : rng.pick(TYPE_URLS);
    const ofKind = this.binaries.filter((b) => b.resource === resource);
    const seed = ofKind.length > 0 ? rng.pick(ofKind) : undefined;
    const donor = rng.pick(this.binaries);
    const how = rng.weighted<string>([
      [1, 'random'],
      [3, 'bytes'],
      [1, 'splice'],
      [1, 'length'],
      [3, 'normalized'],
      [4, 'wire'],
      [1, 'depth-bomb'],
      [1, 'any-bomb'],
      [seed ? 1 : 0, 'unmutated'],
    ]);
    let bytes: Buffer;
    const base = seed?.bytes ?? donor.bytes;
    switch (how) {
      case 'random':
        bytes = rng.bytes(rng.range(0, 512));
        break;
      case 'bytes':
        bytes = mutateBytes(rng, base);
        break;
      case 'splice': {
        const a = base.subarray(0, rng.int(base.length + 1));
        const b = donor.bytes.subarray(rng.int(donor.bytes.length + 1));
        bytes = Buffer.concat([a, b]);
        break;
      }
      case 'length':
        bytes = plantLengthField(rng, base);
        break;
      case 'normalized':
        bytes = this.mutateNormalized(rng, seed ?? donor, resource) ?? mutateBytes(rng, base);
        break;
      case 'wire':
        bytes = mutateWire(rng, base) ?? mutateBytes(rng, base);
        break;
      case 'depth-bomb':
        bytes = structDepthBomb(rng, resource, rng.range(1, this.options.maxDepth));
        break;
      case 'any-bomb':
        bytes = anyDepthBomb(rng, rng.range(1, this.options.maxDepth));
        break;
      default:
        bytes = Buffer.from(base);
    }
    const name = rng.chance(0.3) ? rng.pick(['backend', 'up', 'main', '', randomString(rng)]) : undefined;
    return { kind: 'resource-binary', resource, how, typeUrl, bytes, ...(name === undefined ? {} : { name }) };
  }

  /** Mutates the decoded (normalized) form and encodes it without validation: wire-valid, rule-breaking messages. */
  private mutateNormalized(rng: Rng, seed: BinarySeed, resource: ResourceKind): Buffer | undefined {
    const typeName = RESOURCE_TYPE_NAMES[resource === seed.resource ? resource : seed.resource];
    try {
      const doc = mutateDocument(rng, structuredCloneSafe(seed.normalized), this.mutator, 3);
      return Buffer.from(encodeDecoded(typeName, doc));
    } catch {
      return undefined;
    }
  }

  /** Runs one input. Returns how it ended; throws what the code under test threw if that was not a ConfigError. */
  execute(input: ConfigInput): ConfigOutcome {
    try {
      switch (input.kind) {
        case 'bootstrap':
          parseBootstrap(input.doc);
          return 'accepted';
        case 'bootstrap-file': {
          this.tmpDir ??= mkdtempSync(join(tmpdir(), 'meshlet-fuzz-'));
          const file = join(this.tmpDir, `bootstrap.${input.ext}`);
          writeFileSync(file, input.text);
          loadBootstrapFile(file);
          return 'accepted';
        }
        case 'resource-json': {
          const value = decodeJson(RESOURCE_TYPE_NAMES[input.resource], input.doc);
          return parseResource(input.resource, value);
        }
        case 'resource-binary': {
          const type = XDS_TYPES[input.resource];
          const decoded = decodeResource(type, { type_url: input.typeUrl, value: input.bytes }, 'v1', input.name);
          if ('error' in decoded) {
            if (typeof decoded.error !== 'string') throw new TypeError(`decodeResource returned a non-string error: ${String(decoded.error)}`);
            return 'rejected';
          }
          return parseResource(input.resource, decoded.value);
        }
      }
    } catch (err) {
      if (err instanceof ConfigError) return 'rejected';
      throw err;
    }
  }
}

/** What the xDS consumers do with a decoded resource: parse it, collecting issues. */
function parseResource(kind: ResourceKind, value: any): ConfigOutcome {
  const issues: ConfigIssue[] = [];
  const secrets = { ads: true, staticSecrets: KNOWN_SECRETS };
  switch (kind) {
    case 'Listener':
      parseListener(value, '', issues, { ...secrets, clusterNames: KNOWN_CLUSTERS });
      break;
    case 'Cluster':
      parseCluster(value, '', issues, secrets);
      break;
    case 'RouteConfiguration':
      compileRoutes(value, '', issues, {}, KNOWN_CLUSTERS, false);
      break;
    case 'ClusterLoadAssignment':
      parseLoadAssignment(value, '', issues, false);
      break;
    case 'Secret':
      parseSecret(value, '', issues);
      break;
  }
  for (const issue of issues) {
    if (typeof issue.path !== 'string' || typeof issue.message !== 'string') throw new TypeError(`malformed ConfigIssue ${JSON.stringify(issue)}`);
  }
  return issues.length > 0 ? 'rejected' : 'accepted';
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x3a, 0x7f, 0x80, 0xfe, 0xff];

export function mutateBytes(rng: Rng, input: Buffer): Buffer {
  let b: Buffer = Buffer.from(input);
  const ops = rng.smallCount(8);
  for (let i = 0; i < ops; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length > 0) b[Math.min(at, b.length - 1)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick(INTERESTING_BYTES)]), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 8)))]);
        break;
      case 4:
        b = b.subarray(0, at);
        break;
      case 5: {
        const len = rng.range(1, 32);
        const seg = b.subarray(at, at + len);
        b = Buffer.concat([b.subarray(0, at), seg, seg, b.subarray(at)]);
        break;
      }
      case 6:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(at)]);
        break;
    }
  }
  return b;
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** A length-delimited field (random number) whose length says more (or less) than there is. */
function plantLengthField(rng: Rng, base: Buffer): Buffer {
  const field = rng.pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 16, 24, 25, 26, 536870911]);
  const len = rng.pick([0, 1, 2, 127, 128, 65536, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 35]);
  const payload = rng.bytes(rng.range(0, 16));
  const field0 = Buffer.from([...varint(field * 8 + 2), ...varint(len)]);
  const at = rng.chance(0.5) ? base.length : rng.int(base.length + 1);
  return Buffer.concat([base.subarray(0, at), field0, payload, base.subarray(at)]);
}

function delimited(fieldId: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint(fieldId * 8 + 2), ...varint(body.length)]), body]);
}

/** A field's number (google.protobuf types are loaded with camelCase names, Envoy's with proto names). */
function fieldId(typeName: string, field: string): number {
  const fields = lookupMessageType(typeName)!.fields;
  return (fields[field] ?? fields[field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())])!.id;
}

/** A google.protobuf.Value nested `depth` times (list in list, or struct in struct) as a resource's metadata. */
function structDepthBomb(rng: Rng, resource: ResourceKind, depth: number): Buffer {
  const useStruct = rng.chance(0.5);
  const VALUE = 'google.protobuf.Value';
  let value: Buffer = Buffer.from([0x08, 0x00]); // Value{null_value: NULL_VALUE}
  for (let i = 0; i < depth; i++) {
    if (useStruct) {
      const entry = Buffer.concat([delimited(1, Buffer.from('k')), delimited(2, value)]);
      value = delimited(fieldId(VALUE, 'struct_value'), delimited(fieldId('google.protobuf.Struct', 'fields'), entry));
    } else {
      value = delimited(fieldId(VALUE, 'list_value'), delimited(fieldId('google.protobuf.ListValue', 'values'), value));
    }
  }
  const struct = delimited(fieldId('google.protobuf.Struct', 'fields'), Buffer.concat([delimited(1, Buffer.from('k')), delimited(2, value)]));
  const metadata = delimited(fieldId('envoy.config.core.v3.Metadata', 'filter_metadata'), Buffer.concat([delimited(1, Buffer.from('envoy.lb')), delimited(2, struct)]));
  const typeName = RESOURCE_TYPE_NAMES[resource];
  const type = lookupMessageType(typeName)!;
  const name = delimited(1, Buffer.from('backend'));
  if (type.fields.metadata) return Buffer.concat([name, delimited(type.fields.metadata.id, metadata)]);
  // RouteConfiguration, CLA, Secret: a Cluster's metadata, under the wrong type (field 1 still names it).
  return Buffer.concat([name, delimited(fieldId(RESOURCE_TYPE_NAMES.Cluster, 'metadata'), metadata)]);
}

/** A Cluster whose transport socket's typed_config is an Any holding an Any ... `depth` times. */
function anyDepthBomb(rng: Rng, depth: number): Buffer {
  const ANY = 'google.protobuf.Any';
  const innerUrl = rng.pick(['type.googleapis.com/google.protobuf.Empty', 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext']);
  let any: Buffer = delimited(fieldId(ANY, 'type_url'), Buffer.from(innerUrl));
  const url = Buffer.from(typeUrlOf(ANY));
  for (let i = 0; i < depth; i++) any = Buffer.concat([delimited(fieldId(ANY, 'type_url'), url), delimited(fieldId(ANY, 'value'), any)]);
  const CLUSTER_T = RESOURCE_TYPE_NAMES.Cluster;
  const socket = Buffer.concat([delimited(1, Buffer.from('envoy.transport_sockets.tls')), delimited(fieldId('envoy.config.core.v3.TransportSocket', 'typed_config'), any)]);
  return Buffer.concat([delimited(1, Buffer.from('backend')), delimited(fieldId(CLUSTER_T, 'transport_socket'), socket)]);
}

const YAML_TOKENS = [
  '&a ', '*a', '*b', '<<: *a\n', '!!binary ', '!!str ', '!!int ', '!!float ', '!!map ', '!!seq ', '!!set ', '!!omap ', '!!timestamp ', '!foo ',
  '? ', '- ', '{', '}', '[', ']', ',', ':', ': ', '|', '>', '|-', '"', "'", '#', '\t', '\n', '\r\n', '\r', '---\n', '...\n', '%YAML 1.1\n',
  '%TAG ! tag:x,2000:\n', '\u0000', '\uFEFF', '\u0085', '0x1F', '0o17', '.inf', '-.inf', '.nan', '~', 'null', 'yes', 'on', '1e400', '0b101',
  '1:20:30', '2001-12-14t21:59:43.10-05:00', '\\u0000', '"\\ud800"', '"\\x00"', '@', '`',
];

/** A YAML "billion laughs": aliases of aliases; yaml's maxAliasCount is what stands against it. */
function aliasBomb(rng: Rng): string {
  const levels = rng.range(3, 12);
  let s = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < levels; i++) s += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
  return s;
}

function mutateText(rng: Rng, text: string): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(9)) {
    case 0:
      return text.slice(0, at) + rng.pick(YAML_TOKENS) + text.slice(at);
    case 1:
      return text.slice(0, at) + text.slice(at + rng.range(1, 20));
    case 2:
      return text.slice(0, at);
    case 3: {
      const len = rng.range(1, 200);
      return text.slice(0, at) + text.slice(at, at + len).repeat(rng.range(2, 5)) + text.slice(at);
    }
    case 4:
      return text.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + text.slice(at + 1);
    case 5:
      return aliasBomb(rng) + text;
    case 6: {
      // Re-indent one line: YAML structure is in the indentation.
      const lineStart = text.lastIndexOf('\n', at) + 1;
      return text.slice(0, lineStart) + ' '.repeat(rng.range(0, 4)) + text.slice(lineStart).replace(/^ {0,4}/, '');
    }
    case 7:
      return text.slice(0, at) + '['.repeat(rng.range(1, 5000)) + text.slice(at);
    default:
      return text.slice(0, at) + randomString(rng) + text.slice(at);
  }
}
