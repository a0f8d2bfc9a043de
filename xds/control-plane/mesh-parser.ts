/**
 * The mesh file (YAML) → MeshConfig, checking everything a person can get wrong by hand:
 * unknown fields, types, ranges, references from routes to services and versions, regexes
 * (RE2, as Envoy runs them). Every problem is collected with its path and thrown as one
 * ConfigError; the format is documented in examples/mesh.yaml.
 */
import { parseSpiffeId, trustDomainProblem, workloadSpiffeId } from '../../certs/spiffe-id';
import { ConfigError } from '../config-error';
import { pathKey } from '../proto-schema';
import { translateRe2 } from '../../proxy/router/re2';
import {
  HEADER_MATCH_KINDS,
  LB_POLICIES,
  PROTOCOLS,
  MTLS_MODES,
  type DestinationSpec,
  type EndpointSpec,
  type GatewayCertificateSpec,
  type GatewaySpec,
  type GatewayTlsSpec,
  type HeaderMatchSpec,
  type MatchSpec,
  type MeshConfig,
  type MtlsMode,
  type MtlsSettings,
  type RetrySpec,
  type RouteSpec,
  type ServiceSpec,
  type SidecarSpec,
} from './mesh-config';
import {
  durationMsReader,
  enumReader,
  field,
  integerReader,
  listReader,
  namedEntries,
  readBoolean,
  readDuration,
  readIp,
  readObject,
  readPort,
  readString,
  stringReader,
  type Fields,
  type Issues,
  type Reader,
} from './mesh-fields';

/** Names of the sidecar listeners and route configurations, which services and gateways must not take. */
const RESERVED_NAMES: readonly string[] = ['outbound', 'inbound'];

const NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
/** A service or gateway name: also a segment of etcd keys (etcd-keys.ts), so never a "/". */
export const readName = stringReader(NAME, 'a lowercase DNS-style name (a-z, 0-9, "-", ".")');
const readVersion = stringReader(/^[A-Za-z0-9._-]+$/, 'a version label (letters, digits, ".", "_", "-")');
const readWeight = integerReader(1, 1_000_000);
const readSplitWeight = integerReader(0, 1_000_000);
const readPriority = integerReader(0, 100);
const readAttempts = integerReader(1, 10);
const readUrlPath = stringReader(/^\//, 'a path starting with "/"');
const readNonEmpty = stringReader(/./, 'a non-empty string');

const DEFAULT_SIDECAR: SidecarSpec = { address: '127.0.0.1', outboundPort: 15001, inboundPort: 15006 };

const readTrustDomain: Reader<string> = (v, path, issues) => {
  const name = readString(v, path, issues);
  const problem = name === undefined ? undefined : trustDomainProblem(name);
  if (problem === undefined) return name;
  issues.push({ path, message: `not a SPIFFE trust domain: ${problem}` });
  return undefined;
};
// Certificates are renewed at half their lifetime, each time with a new key: below a second
// that is a key pair per node several times a second.
const readCertTtl = durationMsReader(1000, 30 * 24 * 3_600_000);
const readMtlsMode = enumReader(MTLS_MODES);
const DEFAULT_NAMESPACE = 'default';

/**
 * The SPIFFE ID of a workload. Its parts have been read already, and a part that cannot be in
 * a SPIFFE ID (a service named "web app") was reported then: the mesh is rejected anyway.
 */
function spiffeIdOf(trustDomain: string, namespace: string, serviceAccount: string): string {
  try {
    return workloadSpiffeId(trustDomain, namespace, serviceAccount);
  } catch {
    return '';
  }
}

/** What a service inherits from the top of the file. */
interface ServiceDefaults {
  readonly sidecar: SidecarSpec;
  readonly mtlsMode: MtlsMode;
  readonly trustDomain: string;
}

export interface MeshParseOptions {
  /**
   * Instances also register endpoints of their own (the etcd registry): a route may name a
   * version that no endpoint in the document has, since instances of it may register later
   * (its cluster is empty until then).
   */
  readonly endpointsRegistered?: boolean;
}

/** @throws ConfigError listing every problem, each with its path in the mesh file */
export function parseMesh(document: unknown, options: MeshParseOptions = {}): MeshConfig {
  const issues: Issues = [];
  const root = readObject(document ?? {}, '', issues, 'the mesh file', ['mtls', 'sidecar', 'services', 'gateways']) ?? {};
  const { mode: mtlsMode, ...mtls } = parseMtls(root.mtls, 'mtls', issues);
  const defaults: ServiceDefaults = { sidecar: parseSidecar(root.sidecar, 'sidecar', issues, DEFAULT_SIDECAR, false), mtlsMode, trustDomain: mtls.trustDomain };
  if (root.services === undefined) issues.push({ path: 'services', message: 'required' });

  // Routes refer to services and versions, so every service body is read before any route.
  const drafts = namedEntries(root.services ?? {}, 'services', issues, 'services', (name, v, path) => {
    checkName(name, path, issues);
    const body = readObject(v, path, issues, `service "${name}"`, [
      'port', 'protocol', 'lb_policy', 'connect_timeout', 'endpoints', 'routes', 'sidecar', 'namespace', 'service_account', 'mtls', 'authorization',
    ]);
    return body && { name, path, body, ...parseServiceBody(name, body, path, issues, defaults) };
  });
  const versions = new Map(drafts.map((d) => [d.name, new Set(d.endpoints.flatMap((e) => (e.version === undefined ? [] : [e.version])))]));

  const gateways = namedEntries(root.gateways ?? {}, 'gateways', issues, 'gateways', (name, v, path) => {
    checkName(name, path, issues);
    if (versions.has(name)) issues.push({ path, message: `"${name}" is also a service: node.cluster could not tell a gateway from a sidecar` });
    return parseGateway(name, v, path, issues, { versions, ...options }, mtls.trustDomain);
  });

  // Authorization names its callers, services and gateways alike.
  const identities = new Map([...drafts, ...gateways].map((d): [string, string] => [d.name, d.spiffeId]));
  const services: ServiceSpec[] = drafts.map(({ body, path, ...service }) => {
    const routes = field(body, 'routes', path, issues, routesReader({ versions, ...options, enclosingService: service.name }));
    const allowFrom = field(body, 'authorization', path, issues, authorizationReader(service, identities));
    return {
      ...service,
      routes: routes ?? [{ match: { prefix: '/', headers: [] }, to: [{ service: service.name, weight: 1 }] }],
      ...(allowFrom !== undefined && { allowFrom }),
    };
  });

  if (issues.length > 0) throw new ConfigError(issues);
  return { services, gateways, mtls: { ...mtls, enabled: services.some((s) => s.mtls !== 'DISABLE') } };
}

function parseMtls(v: unknown, path: string, issues: Issues): Omit<MtlsSettings, 'enabled'> & { readonly mode: MtlsMode } {
  const body = (v === undefined || v === null ? {} : readObject(v, path, issues, 'mTLS settings', ['mode', 'trust_domain', 'cert_ttl', 'ca_dir'])) ?? {};
  const caDir = field(body, 'ca_dir', path, issues, readNonEmpty);
  return {
    mode: field(body, 'mode', path, issues, readMtlsMode) ?? 'DISABLE',
    trustDomain: field(body, 'trust_domain', path, issues, readTrustDomain) ?? 'cluster.local',
    certTtlMs: field(body, 'cert_ttl', path, issues, readCertTtl) ?? 3_600_000,
    ...(caDir !== undefined && { caDir }),
  };
}

function checkName(name: string, path: string, issues: Issues): void {
  readName(name, path, issues);
  if (RESERVED_NAMES.includes(name)) issues.push({ path, message: `"${name}" is reserved for the sidecar's own listeners and routes` });
}

function parseServiceBody(name: string, body: Fields, path: string, issues: Issues, defaults: ServiceDefaults) {
  const endpoints = field(body, 'endpoints', path, issues, listReader(uniqueEndpointReader())) ?? [];
  const namespace = field(body, 'namespace', path, issues, readName) ?? DEFAULT_NAMESPACE;
  const serviceAccount = field(body, 'service_account', path, issues, readName) ?? name;
  return {
    port: field(body, 'port', path, issues, readPort) ?? 80,
    protocol: field(body, 'protocol', path, issues, enumReader(PROTOCOLS)) ?? 'http1',
    lbPolicy: field(body, 'lb_policy', path, issues, enumReader(LB_POLICIES)),
    connectTimeout: field(body, 'connect_timeout', path, issues, readDuration),
    endpoints,
    sidecar: parseSidecar(body.sidecar, pathKey(path, 'sidecar'), issues, defaults.sidecar, true),
    mtls: field(body, 'mtls', path, issues, readMtlsMode) ?? defaults.mtlsMode,
    spiffeId: spiffeIdOf(defaults.trustDomain, namespace, serviceAccount),
  };
}

/** `authorization: {allow_from: [web, spiffe://...]}` → the SPIFFE IDs allowed to call the service. */
function authorizationReader(service: Pick<ServiceSpec, 'mtls' | 'sidecar'>, identities: ReadonlyMap<string, string>): Reader<string[]> {
  const readCaller: Reader<string> = (v, path, issues) => {
    const caller = readNonEmpty(v, path, issues);
    if (caller === undefined) return undefined;
    if (caller.startsWith('spiffe://')) {
      const parsed = parseSpiffeId(caller);
      if (!('error' in parsed)) return caller;
      issues.push({ path, message: `not a SPIFFE ID: ${parsed.error}` });
      return undefined;
    }
    const id = identities.get(caller);
    if (id === undefined) issues.push({ path, message: `unknown service or gateway "${caller}" (or a SPIFFE ID: "spiffe://...")` });
    return id;
  };
  return (v, path, issues) => {
    const body = readObject(v, path, issues, 'an authorization policy', ['allow_from']);
    if (!body) return undefined;
    if (service.mtls === 'DISABLE') issues.push({ path, message: 'needs mTLS (mtls: STRICT or PERMISSIVE): without it no caller has an identity to allow' });
    if (service.sidecar.appPort === undefined) issues.push({ path, message: "is enforced by the sidecar's inbound listener, which needs sidecar.app_port" });
    const allowFrom = field(body, 'allow_from', path, issues, listReader(readCaller), true);
    if (allowFrom?.length === 0) issues.push({ path: pathKey(path, 'allow_from'), message: 'at least one caller is required' });
    return allowFrom && [...new Set(allowFrom)];
  };
}

function parseSidecar(v: unknown, path: string, issues: Issues, defaults: SidecarSpec, perService: boolean): SidecarSpec {
  if (v === undefined || v === null) return defaults;
  const known = ['address', 'outbound_port', 'inbound_port', ...(perService ? ['app_port'] : [])];
  const body = readObject(v, path, issues, 'sidecar settings', known);
  if (!body) return defaults;
  const sidecar: SidecarSpec = {
    address: field(body, 'address', path, issues, readIp) ?? defaults.address,
    outboundPort: field(body, 'outbound_port', path, issues, readPort) ?? defaults.outboundPort,
    inboundPort: field(body, 'inbound_port', path, issues, readPort) ?? defaults.inboundPort,
    appPort: field(body, 'app_port', path, issues, readPort),
  };
  if (sidecar.appPort !== undefined && sidecar.inboundPort === sidecar.outboundPort) {
    issues.push({ path: pathKey(path, 'inbound_port'), message: `the inbound and outbound listeners cannot share port ${sidecar.inboundPort}` });
  }
  return sidecar;
}

/** One endpoint, as the mesh file lists it and as an instance registers it (etcd-registry.ts). */
export const readEndpoint = (v: unknown, path: string, issues: Issues): EndpointSpec | undefined => {
  const body = readObject(v, path, issues, 'an endpoint', ['address', 'port', 'weight', 'priority', 'version', 'region', 'zone']);
  if (!body) return undefined;
  const address = field(body, 'address', path, issues, readIp, true);
  const port = field(body, 'port', path, issues, readPort, true);
  const rest = {
    weight: field(body, 'weight', path, issues, readWeight) ?? 1,
    priority: field(body, 'priority', path, issues, readPriority) ?? 0,
    version: field(body, 'version', path, issues, readVersion),
    region: field(body, 'region', path, issues, readNonEmpty),
    zone: field(body, 'zone', path, issues, readNonEmpty),
  };
  return address === undefined || port === undefined ? undefined : { address, port, ...rest };
};

/** Endpoints of one service; Envoy accepts duplicates, but gRPC clients reject the whole assignment. */
function uniqueEndpointReader() {
  const seen = new Map<string, string>();
  return (v: unknown, path: string, issues: Issues): EndpointSpec | undefined => {
    const endpoint = readEndpoint(v, path, issues);
    if (endpoint === undefined) return undefined;
    const key = `${endpoint.address}:${endpoint.port}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, path);
    else issues.push({ path, message: `${key} is already the endpoint at ${first}` });
    return endpoint;
  };
}

function parseGateway(
  name: string,
  v: unknown,
  path: string,
  issues: Issues,
  context: RouteContext,
  trustDomain: string,
): GatewaySpec | undefined {
  const body = readObject(v, path, issues, `gateway "${name}"`, ['address', 'port', 'hosts', 'routes', 'namespace', 'tls', 'https_redirect', 'http_port']);
  if (!body) return undefined;
  const port = field(body, 'port', path, issues, readPort, true);
  const routes = field(body, 'routes', path, issues, routesReader(context), true);
  if (routes?.length === 0) issues.push({ path: pathKey(path, 'routes'), message: 'a gateway needs at least one route' });
  const namespace = field(body, 'namespace', path, issues, readName) ?? DEFAULT_NAMESPACE;
  const tls = parseGatewayTls(body, path, issues, port);
  if (port === undefined || routes === undefined) return undefined;
  return {
    name,
    address: field(body, 'address', path, issues, readIp) ?? '127.0.0.1',
    port,
    hosts: field(body, 'hosts', path, issues, listReader(readNonEmpty)) ?? ['*'],
    routes,
    spiffeId: spiffeIdOf(trustDomain, namespace, name),
    ...(tls !== undefined && { tls }),
  };
}

/** A name a TLS client sends as SNI (no port), or "*." and one: Envoy's server_names wildcards. */
const readSniName = stringReader(
  /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i,
  'a DNS name, or "*." and a DNS name (no port; "*" alone is not an SNI name)',
);
/** SNI is case-insensitive: lowercased, so "API.example.com" and "api.example.com" are one name. */
const readSniHost: Reader<string> = (v, path, issues) => readSniName(v, path, issues)?.toLowerCase();

/**
 * SNI names across one gateway's certificates: each entry is a filter chain, and a name in two
 * chains makes a connection match both, which Envoy rejects (an exact name and a wildcard
 * covering it do not overlap: the exact one wins).
 */
function uniqueSniHostReader(): Reader<string> {
  const seen = new Map<string, string>();
  return (v, path, issues) => {
    const host = readSniHost(v, path, issues);
    if (host === undefined) return undefined;
    const first = seen.get(host);
    if (first === undefined) seen.set(host, path);
    else issues.push({ path, message: `"${host}" is already at ${first}: an SNI name selects one certificate` });
    return host;
  };
}

function gatewayCertificateReader(readHost: Reader<string>): Reader<GatewayCertificateSpec> {
  return (v, path, issues) => {
    const body = readObject(v, path, issues, 'a certificate', ['hosts', 'cert_chain', 'private_key']);
    if (!body) return undefined;
    const hosts = field(body, 'hosts', path, issues, listReader(readHost), true);
    if (hosts?.length === 0) issues.push({ path: pathKey(path, 'hosts'), message: 'at least one host is required: the SNI names this certificate is for' });
    const certChain = field(body, 'cert_chain', path, issues, readNonEmpty, true);
    const privateKey = field(body, 'private_key', path, issues, readNonEmpty, true);
    return hosts && certChain && privateKey ? { hosts, certChain, privateKey } : undefined;
  };
}

/** `tls`, `https_redirect` and `http_port`, read together: the last two mean nothing without `tls`. */
function parseGatewayTls(body: Fields, path: string, issues: Issues, port: number | undefined): GatewayTlsSpec | undefined {
  const certificates = field(body, 'tls', path, issues, listReader(gatewayCertificateReader(uniqueSniHostReader())));
  if (certificates?.length === 0) issues.push({ path: pathKey(path, 'tls'), message: 'at least one certificate is required (without tls, the gateway speaks plaintext HTTP)' });
  const httpsRedirect = field(body, 'https_redirect', path, issues, readBoolean) ?? false;
  if (httpsRedirect && certificates === undefined) issues.push({ path: pathKey(path, 'https_redirect'), message: 'needs tls: without it there is no https listener to redirect to' });
  const redirectPort = parseRedirectPort(body, path, issues, httpsRedirect, port);
  if (certificates === undefined || certificates.length === 0) return undefined;
  return { certificates, ...(httpsRedirect && redirectPort !== undefined && { redirectPort }) };
}

/**
 * `http_port`: the plaintext listener of https_redirect. Required rather than 80 by default:
 * binding 80 takes privileges, so the port is one the file says it means.
 */
function parseRedirectPort(body: Fields, path: string, issues: Issues, httpsRedirect: boolean, port: number | undefined): number | undefined {
  const at = pathKey(path, 'http_port');
  const given = body.http_port !== undefined && body.http_port !== null;
  const redirectPort = field(body, 'http_port', path, issues, readPort);
  if (httpsRedirect && !given) issues.push({ path: at, message: 'required with https_redirect: the port of the plaintext listener that redirects to https (usually 80)' });
  if (!httpsRedirect && given) issues.push({ path: at, message: 'is the port of the https_redirect listener: set https_redirect: true, or leave http_port out' });
  if (redirectPort !== undefined && redirectPort === port) issues.push({ path: at, message: `port ${port} is the https listener's` });
  return redirectPort;
}

// ---------------------------------------------------------------------------------------------
// Routes

interface RouteContext extends MeshParseOptions {
  /** Every service, with the versions its endpoints carry. */
  readonly versions: ReadonlyMap<string, ReadonlySet<string>>;
  /** In a service's own routes, destinations default to that service. */
  readonly enclosingService?: string;
}

function routesReader(context: RouteContext) {
  return listReader((v, path, issues) => parseRoute(v, path, issues, context));
}

function parseRoute(v: unknown, path: string, issues: Issues, context: RouteContext): RouteSpec | undefined {
  const body = readObject(v, path, issues, 'a route', ['name', 'match', 'to', 'timeout', 'retries', 'prefix_rewrite']);
  if (!body) return undefined;
  const match = body.match === undefined ? { prefix: '/', headers: [] } : parseMatch(body.match, pathKey(path, 'match'), issues);
  const to = parseDestinations(body.to, pathKey(path, 'to'), issues, context);
  const prefixRewrite = field(body, 'prefix_rewrite', path, issues, readString);
  if (prefixRewrite !== undefined && match?.regex !== undefined) {
    issues.push({ path: pathKey(path, 'prefix_rewrite'), message: 'cannot rewrite the prefix of a regex match' });
  }
  const route: RouteSpec = {
    name: field(body, 'name', path, issues, readNonEmpty),
    match: match ?? { headers: [] },
    to: to ?? [],
    timeout: field(body, 'timeout', path, issues, readDuration),
    retries: field(body, 'retries', path, issues, readRetries),
    prefixRewrite,
  };
  return match && to ? route : undefined;
}

const PATH_KINDS = ['prefix', 'path', 'regex'] as const;

function parseMatch(v: unknown, path: string, issues: Issues): MatchSpec | undefined {
  const body = readObject(v, path, issues, 'a match', [...PATH_KINDS, 'headers']);
  if (!body) return undefined;
  const given = PATH_KINDS.filter((k) => body[k] !== undefined && body[k] !== null);
  if (given.length !== 1) {
    issues.push({ path, message: `exactly one of prefix, path, regex is required${given.length > 1 ? ` (got ${given.join(' and ')})` : ''}` });
    return undefined;
  }
  const headers = field(body, 'headers', path, issues, readHeaderMatches) ?? [];
  const kind = given[0];
  const value = field(body, kind, path, issues, kind === 'regex' ? readRegex : readUrlPath);
  return value === undefined ? undefined : { [kind]: value, headers };
}

const readRegex = (v: unknown, path: string, issues: Issues): string | undefined => {
  const pattern = readString(v, path, issues);
  if (pattern === undefined) return undefined;
  const translated = translateRe2(pattern);
  if ('error' in translated) {
    issues.push({ path, message: `invalid RE2 regex: ${translated.error}` });
    return undefined;
  }
  return pattern;
};

/** `headers: {x-canary: "1", x-user: {prefix: "test-"}, x-debug: {present: true}}` */
const readHeaderMatches = (v: unknown, path: string, issues: Issues): HeaderMatchSpec[] | undefined =>
  namedEntries(v, path, issues, 'header matches', (name, spec, at) => {
    if (typeof spec === 'string') return { name, kind: 'exact', value: spec };
    const body = readObject(spec, at, issues, 'a header value or match', HEADER_MATCH_KINDS);
    if (!body) return undefined;
    const kinds = HEADER_MATCH_KINDS.filter((k) => body[k] !== undefined);
    if (kinds.length !== 1) {
      issues.push({ path: at, message: `exactly one of ${HEADER_MATCH_KINDS.join(', ')} is required` });
      return undefined;
    }
    const kind = kinds[0];
    const reader: Reader<string | boolean> = kind === 'present' ? readBoolean : kind === 'regex' ? readRegex : readString;
    const value = field(body, kind, at, issues, reader);
    return value === undefined ? undefined : { name, kind, value };
  });

const readRetries = (v: unknown, path: string, issues: Issues): RetrySpec | undefined => {
  const body = readObject(v, path, issues, 'a retry policy', ['attempts', 'on', 'per_try_timeout']);
  if (!body) return undefined;
  return {
    attempts: field(body, 'attempts', path, issues, readAttempts) ?? 1,
    on: field(body, 'on', path, issues, readNonEmpty) ?? '5xx',
    perTryTimeout: field(body, 'per_try_timeout', path, issues, readDuration),
  };
};

/** `to: {service: web}` or `to: [{version: v1, weight: 90}, {version: v2, weight: 10}]`. */
function parseDestinations(v: unknown, path: string, issues: Issues, context: RouteContext): DestinationSpec[] | undefined {
  if (v === undefined || v === null) {
    if (context.enclosingService !== undefined) return [{ service: context.enclosingService, weight: 1 }];
    issues.push({ path, message: 'required: where to send the traffic, e.g. {service: web}' });
    return undefined;
  }
  const split = Array.isArray(v);
  const list = split ? v : [v];
  if (list.length === 0) {
    issues.push({ path, message: 'at least one destination is required' });
    return undefined;
  }
  const destinations = list.map((item, i) => parseDestination(item, split ? `${path}[${i}]` : path, issues, context, split && list.length > 1));
  if (destinations.some((d) => d === undefined)) return undefined;
  const result = destinations as DestinationSpec[];
  if (result.length > 1 && result.every((d) => d.weight === 0)) issues.push({ path, message: 'the weights of a split must not all be 0' });
  return result;
}

function parseDestination(v: unknown, path: string, issues: Issues, context: RouteContext, weighted: boolean): DestinationSpec | undefined {
  const body = readObject(v, path, issues, 'a destination', ['service', 'version', 'weight']);
  if (!body) return undefined;
  const service = field(body, 'service', path, issues, readString, context.enclosingService === undefined) ?? context.enclosingService;
  const version = field(body, 'version', path, issues, readVersion);
  const weight = field(body, 'weight', path, issues, readSplitWeight, weighted);
  if (service === undefined) return undefined;
  const versions = context.versions.get(service);
  if (versions === undefined) {
    issues.push({ path: pathKey(path, 'service'), message: `unknown service "${service}"` });
    return undefined;
  }
  if (version !== undefined && !versions.has(version) && context.endpointsRegistered !== true) {
    const known = versions.size > 0 ? `its versions: ${[...versions].join(', ')}` : 'none of its endpoints has a version';
    issues.push({ path: pathKey(path, 'version'), message: `service "${service}" has no endpoint with version "${version}" (${known})` });
    return undefined;
  }
  if (weighted && weight === undefined) return undefined;
  return { service, ...(version !== undefined && { version }), weight: weight ?? 1 };
}
