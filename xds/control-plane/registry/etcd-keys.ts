/**
 * The mesh's keys in etcd, under a prefix (default /meshlet):
 *
 *   <prefix>/mesh                                     the mesh document (etcd-registry.ts)
 *   <prefix>/endpoints/<service>/<address>:<port>     one registered endpoint (etcd-registration.ts)
 */

export const DEFAULT_PREFIX = '/meshlet';

export interface EndpointAddress {
  readonly address: string;
  readonly port: number;
}

/** Everything of the mesh is under this, and nothing of anything else (`/meshlet2` is not under `/meshlet/`). */
export function registryPrefix(prefix: string): string {
  return `${prefix}/`;
}

export function meshKey(prefix: string): string {
  return `${prefix}/mesh`;
}

export function endpointsPrefix(prefix: string): string {
  return `${prefix}/endpoints/`;
}

/** What identifies an endpoint within its service: the mesh parser also allows each address:port once. */
export function endpointId({ address, port }: EndpointAddress): string {
  return `${address}:${port}`;
}

export function endpointKey(prefix: string, service: string, endpoint: EndpointAddress): string {
  return `${endpointsPrefix(prefix)}${service}/${endpointId(endpoint)}`;
}

export type RegistryKey = { readonly kind: 'mesh' } | { readonly kind: 'endpoint'; readonly service: string; readonly id: string } | { readonly kind: 'unknown' };

/** What a key under `registryPrefix(prefix)` is. */
export function classifyKey(prefix: string, key: string): RegistryKey {
  if (key === meshKey(prefix)) return { kind: 'mesh' };
  const endpoints = endpointsPrefix(prefix);
  const parts = key.startsWith(endpoints) ? key.slice(endpoints.length).split('/') : [];
  if (parts.length === 2 && parts.every((p) => p !== '')) return { kind: 'endpoint', service: parts[0], id: parts[1] };
  return { kind: 'unknown' };
}

/** Why a prefix cannot be used, or undefined: keys are `<prefix>/...`, so it starts with "/" and does not end with one. */
export function prefixProblem(prefix: string): string | undefined {
  return /^(\/[^/\s]+)+$/.test(prefix) ? undefined : `"${prefix}" is not a key prefix like /meshlet or /meshlet/prod (starts with "/", no trailing "/", no empty segment)`;
}
