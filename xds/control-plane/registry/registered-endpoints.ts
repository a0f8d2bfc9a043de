/**
 * The mesh as served from etcd: the mesh document with, for each service, the endpoints its
 * instances registered added to the document's own (static) ones. A registration that cannot be
 * used is left out with the reason, and never makes the mesh invalid: one bad value must not
 * freeze every other service's endpoints at the last good mesh.
 */
import type { ConfigIssue } from '../../config-error';
import type { EndpointSpec, MeshConfig } from '../mesh-config';
import { readEndpoint } from '../mesh-parser';
import { classifyKey, endpointId, endpointsPrefix, meshKey } from './etcd-keys';

export interface RegistryMesh {
  readonly mesh: MeshConfig;
  /** Keys under the prefix that were not used, with why. */
  readonly ignored: ReadonlyMap<string, string>;
}

/**
 * `document`: the last good mesh document; `entries`: every key under the prefix with its value.
 * Registered endpoints follow the document's, in key order, so the result does not depend on the
 * order in which instances registered.
 */
export function meshWithRegistrations(document: MeshConfig, entries: ReadonlyMap<string, string>, prefix: string): RegistryMesh {
  const ignored = new Map<string, string>();
  const registered = new Map<string, EndpointSpec[]>();
  for (const key of [...entries.keys()].sort()) {
    const kind = classifyKey(prefix, key);
    if (kind.kind === 'mesh') continue;
    const problem =
      kind.kind === 'unknown'
        ? `not a key of the mesh (${meshKey(prefix)}, ${endpointsPrefix(prefix)}<service>/<address>:<port>)`
        : registrationProblem(document, kind.service, kind.id, entries.get(key)!, registered);
    if (problem !== undefined) ignored.set(key, problem);
  }
  const services = document.services.map((s) => {
    const added = registered.get(s.name);
    return added === undefined ? s : { ...s, endpoints: [...s.endpoints, ...added] };
  });
  return { mesh: { ...document, services }, ignored };
}

/** Why the registration cannot be used, or undefined after adding it to `registered`. */
function registrationProblem(document: MeshConfig, serviceName: string, id: string, value: string, registered: Map<string, EndpointSpec[]>): string | undefined {
  const service = document.services.find((s) => s.name === serviceName);
  if (service === undefined) return `the mesh document has no service "${serviceName}"`;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const issues: ConfigIssue[] = [];
  const endpoint = readEndpoint(json, '', issues);
  if (endpoint === undefined || issues.length > 0) return issues.map((i) => `${i.path || 'value'}: ${i.message}`).join('; ');
  if (endpointId(endpoint) !== id) return `the key says ${id}, the value ${endpointId(endpoint)}`;
  if (service.endpoints.some((e) => endpointId(e) === id)) return `the mesh document lists ${id} already (its entry is used)`;
  registered.set(serviceName, [...(registered.get(serviceName) ?? []), endpoint]);
  return undefined;
}
