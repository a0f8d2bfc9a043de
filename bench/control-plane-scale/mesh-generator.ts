/**
 * The mesh file of the control-plane scale benchmark (issue 8: 1000 services × 5 endpoints),
 * generated as YAML text in the format of examples/mesh.yaml. Pure: the same options and moves
 * give the same bytes, so the control plane's content versions are reproducible across runs.
 */
import type { RegisteredEndpoint } from '../../xds/control-plane/registry/etcd-registration';

export interface ScaleMeshOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  /**
   * Every `routedEvery`-th service (0, N, 2N, …) has version-labelled endpoints and a few routes
   * (header match, weighted split, retries), as a mesh with some canaries would; the others get
   * the default catch-all route. Versions add a cluster per version, as Istio's subsets do.
   */
  readonly routedEvery: number;
}

export const ISSUE_8_MESH: ScaleMeshOptions = { services: 1000, endpointsPerService: 5, routedEvery: 100 };

/** One edit of the benchmark: an endpoint moves to another port, as a rescheduled pod would. */
export interface EndpointMove {
  readonly serviceIndex: number;
  readonly endpointIndex: number;
  readonly port: number;
}

/** Base port of endpoint j; moved endpoints go to MOVED_PORT_BASE + change number, a port no unmoved endpoint has. */
const ENDPOINT_PORT_BASE = 8080;
const MOVED_PORT_BASE = 30000;

/** `svc-0042`: padded, so file order, name order and index order agree. */
export function serviceName(index: number, options: ScaleMeshOptions): string {
  return `svc-${String(index).padStart(String(options.services - 1).length, '0')}`;
}

/**
 * A distinct loopback address per endpoint: 127.0.x.y for the first 65535 (x.y never 0.0), then
 * up through 127.255.255.255. Distinct addresses keep every ClusterLoadAssignment distinct, as
 * in a real mesh, so no two resources share a content version by accident.
 */
export function endpointAddress(serviceIndex: number, endpointIndex: number, options: ScaleMeshOptions): string {
  const n = serviceIndex * options.endpointsPerService + endpointIndex + 1;
  if (n >= 1 << 24) throw new Error(`endpoint number ${n} does not fit in 127.0.0.0/8`);
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export function isRoutedService(index: number, options: ScaleMeshOptions): boolean {
  return options.routedEvery > 0 && index % options.routedEvery === 0;
}

/**
 * The `count` edits, each on a different plain (unrouted) service spread over the mesh: a plain
 * service has one cluster, so each edit changes exactly one ClusterLoadAssignment and the
 * benchmark times one EDS resource reaching every client. Endpoint 0 moves to a port unique to
 * the edit, which is how a client recognizes the update.
 */
export function plannedMoves(options: ScaleMeshOptions, count: number): EndpointMove[] {
  const moves: EndpointMove[] = [];
  // A stride coprime with the usual service counts walks the mesh without revisiting a service soon.
  for (let k = 0, candidate = 7; moves.length < count && k < options.services * 2; k++, candidate = (candidate + 397) % options.services) {
    if (isRoutedService(candidate, options) || moves.some((m) => m.serviceIndex === candidate)) continue;
    moves.push({ serviceIndex: candidate, endpointIndex: 0, port: MOVED_PORT_BASE + moves.length + 1 });
  }
  if (moves.length < count) throw new Error(`only ${moves.length} of ${count} edits fit in a mesh of ${options.services} services`);
  return moves;
}

/**
 * Endpoint j of service i with `moves` applied (the last move of an endpoint wins, as successive
 * saves of the file would): as the mesh file lists it, and as its instance registers it in etcd
 * (the JSON value of `meshlet register`). The key order is the file's.
 */
export function scaleEndpoint(serviceIndex: number, endpointIndex: number, options: ScaleMeshOptions, moves: readonly EndpointMove[] = []): RegisteredEndpoint {
  const move = moves.filter((m) => m.serviceIndex === serviceIndex && m.endpointIndex === endpointIndex).at(-1);
  // The last endpoint of a routed service is its canary.
  const version = isRoutedService(serviceIndex, options) ? (endpointIndex === options.endpointsPerService - 1 ? 'v2' : 'v1') : undefined;
  return {
    address: endpointAddress(serviceIndex, endpointIndex, options),
    port: move?.port ?? ENDPOINT_PORT_BASE + endpointIndex,
    weight: 1 + (endpointIndex % 3),
    ...(version !== undefined && { version }),
    region: 'local',
    zone: `z${endpointIndex % 3}`,
  };
}

function endpointLines(serviceIndex: number, options: ScaleMeshOptions, moves: readonly EndpointMove[]): string[] {
  const lines = ['    endpoints:'];
  for (let j = 0; j < options.endpointsPerService; j++) {
    // Every value is a plain YAML scalar (names, numbers, dotted addresses).
    const fields = Object.entries(scaleEndpoint(serviceIndex, j, options, moves)).map(([k, v]) => `${k}: ${String(v)}`);
    lines.push(`      - {${fields.join(', ')}}`);
  }
  return lines;
}

function routeLines(name: string): string[] {
  return [
    '    routes:',
    '      - name: canary',
    '        match: {prefix: /, headers: {x-canary: "1"}}',
    '        to: {version: v2}',
    '      - name: api',
    '        match: {prefix: /api/}',
    '        to: [{version: v1, weight: 90}, {version: v2, weight: 10}]',
    '        timeout: 2s',
    '        retries: {attempts: 2, on: "5xx,reset", per_try_timeout: 500ms}',
    '      - name: default',
    `        to: {service: ${name}}`,
  ];
}

/**
 * The mesh file's text with `moves` applied in order (a later move of the same endpoint wins).
 * `endpoints: false` leaves the endpoints out: the mesh document of the etcd mode, whose
 * endpoints are registered instead (etcd-registrations.ts).
 */
export function scaleMeshYaml(options: ScaleMeshOptions, moves: readonly EndpointMove[] = [], { endpoints = true }: { endpoints?: boolean } = {}): string {
  if (options.services < 1 || options.endpointsPerService < 1) throw new Error('a scale mesh needs at least one service with one endpoint');
  const lines = [
    `# Generated by bench/control-plane-scale: ${options.services} services × ${options.endpointsPerService} endpoints${endpoints ? '' : ', registered in etcd rather than listed here'}.`,
    'services:',
  ];
  for (let i = 0; i < options.services; i++) {
    const name = serviceName(i, options);
    lines.push(`  ${name}:`, '    connect_timeout: 250ms', ...(endpoints ? endpointLines(i, options, moves) : []));
    if (isRoutedService(i, options) && options.endpointsPerService > 1) lines.push(...routeLines(name));
  }
  return `${lines.join('\n')}\n`;
}

/** Counts for the report: services with versions get a cluster (and an assignment) per version too. */
export function meshShape(options: ScaleMeshOptions): { routedServices: number; clusters: number; endpoints: number } {
  let routedServices = 0;
  for (let i = 0; i < options.services; i++) if (isRoutedService(i, options)) routedServices++;
  const versionsPerRouted = options.endpointsPerService > 1 ? 2 : 1;
  return {
    routedServices,
    clusters: options.services + routedServices * versionsPerRouted,
    endpoints: options.services * options.endpointsPerService,
  };
}
