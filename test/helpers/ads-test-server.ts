/**
 * A scriptable ADS server for tests: a real gRPC peer (grpc-js, the Envoy protos loaded by
 * @grpc/proto-loader, independently of meshlet's own loading) that the test drives step by
 * step: await the next request of a type, send this response. Resources are encoded with
 * protobufjs from plain objects (`fromObject` form: snake_case, durations as {seconds},
 * wrappers as {value}, nested Any as {'@type', ...fields}).
 */
import * as grpc from '@grpc/grpc-js';
import { adsServiceClient } from './ads-grpc-package';
import type { Server } from 'node:http';
import { request } from 'undici';
import { startEchoServer } from '../../cli/echo-server';
import { lookupMessageType } from '../../xds/envoy-protos';
import { freePort, startProxy, type ProxyProcess } from './proxy-process';
import { commonTlsContext, type CertFiles } from './mesh-certs';

export const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

const TYPE_NAMES: Record<string, string> = {
  [LDS]: 'envoy.config.listener.v3.Listener',
  [RDS]: 'envoy.config.route.v3.RouteConfiguration',
  [CDS]: 'envoy.config.cluster.v3.Cluster',
  [EDS]: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
};

export interface AnyResource {
  type_url: string;
  value: Buffer;
}

/** Encodes a resource of `typeUrl` from its object form. */
export function encodeResource(typeUrl: string, object: object): AnyResource {
  const type = lookupMessageType(TYPE_NAMES[typeUrl]!)!;
  const problem = type.verify(type.fromObject(object));
  if (problem) throw new Error(`bad test resource: ${problem}`);
  return { type_url: typeUrl, value: Buffer.from(type.encode(type.fromObject(object)).finish()) };
}

export interface SotwRequest {
  version_info: string;
  node: { id: string; cluster: string; locality: object | null; metadata: object | null; user_agent_name: string } | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

export interface DeltaRequest {
  node: SotwRequest['node'];
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

function adsService(): grpc.ServiceDefinition {
  return adsServiceClient().service;
}

/** One ADS stream from a client: requests queue up until the test takes them. */
export class AdsStream<Req extends { type_url: string }> {
  private readonly queue: Req[] = [];
  private waiters: (() => void)[] = [];
  private nonce = 0;
  /** Every request received, in order. */
  readonly received: Req[] = [];

  constructor(private readonly call: grpc.ServerDuplexStream<Req, object>) {
    // Headers right away: the client sees the stream as connected before any response.
    call.sendMetadata(new grpc.Metadata());
    call.on('data', (request: Req) => {
      this.received.push(request);
      this.queue.push(request);
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** The next request of `typeUrl` (others stay queued), within `timeoutMs`. */
  async next(typeUrl: string, timeoutMs = 5000): Promise<Req> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex((r) => r.type_url === typeUrl);
      if (i !== -1) return this.queue.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${typeUrl} request within ${timeoutMs} ms (queued: ${this.queue.map((r) => r.type_url).join(', ') || 'none'})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Whether a request of `typeUrl` is queued now. */
  has(typeUrl: string): boolean {
    return this.queue.some((r) => r.type_url === typeUrl);
  }

  /** SotW: sends every resource of a type at `version`; returns the nonce. */
  respond(typeUrl: string, version: string, resources: readonly object[]): string {
    const nonce = `n${++this.nonce}`;
    this.call.write({ version_info: version, type_url: typeUrl, nonce, resources: resources.map((r) => encodeResource(typeUrl, r)) });
    return nonce;
  }

  /** Delta: sends changed resources (name → [version, object]) and removed names; returns the nonce. */
  respondDelta(typeUrl: string, resources: Record<string, [string, object]>, removed: string[] = [], systemVersion = ''): string {
    const nonce = `d${++this.nonce}`;
    this.call.write({
      system_version_info: systemVersion,
      type_url: typeUrl,
      nonce,
      removed_resources: removed,
      resources: Object.entries(resources).map(([name, [version, object]]) => ({ name, version, resource: encodeResource(typeUrl, object) })),
    });
    return nonce;
  }

  /** Ends the stream with a status, as a control plane going away does. */
  end(code = grpc.status.UNAVAILABLE, details = 'test server ends the stream'): void {
    this.call.emit('error', { code, details });
  }
}

/** A grpc-js server with the AggregatedDiscoveryService; each client stream is handed to the test. */
export class AdsTestServer {
  private server: grpc.Server | undefined;
  private readonly pending: AdsStream<any>[] = [];
  private waiters: (() => void)[] = [];

  private constructor(public port: number) {}

  static async start(port = 0): Promise<AdsTestServer> {
    const server = new AdsTestServer(port);
    await server.listen();
    return server;
  }

  /** The next stream a client opens, within `timeoutMs`. */
  async nextStream<Req extends { type_url: string } = SotwRequest>(timeoutMs = 5000): Promise<AdsStream<Req>> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ADS stream within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.pending.shift()!;
  }

  /** Kills the server and every stream, as a control plane crash does. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.listen();
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    const accept = (call: grpc.ServerDuplexStream<any, object>) => {
      this.pending.push(new AdsStream(call));
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    };
    server.addService(adsService(), { StreamAggregatedResources: accept, DeltaAggregatedResources: accept });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
  }
}

// ---------------------------------------------------------------------------------------------
// Resources and bootstraps

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** A Listener on 127.0.0.1:`port` whose routes come from RDS (`rds`) or are inline (`routeConfig`). */
export function listener(name: string, port: number, routes: { rds: string } | { routeConfig: object }): object {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              ...('rds' in routes
                ? { rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routes.rds } }
                : { route_config: routes.routeConfig }),
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

/** A RouteConfiguration with one catch-all virtual host; `routes` are Route objects. */
export function routeConfiguration(name: string, routes: object[]): object {
  return { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes }] };
}

/** A route sending `prefix` to `cluster`. */
export function routeTo(cluster: string, prefix = '/'): object {
  return { match: { prefix }, route: { cluster } };
}

/** A Cluster of type EDS over ADS; `extra` adds or overrides fields. */
export function edsCluster(name: string, extra: object = {}): object {
  return {
    name,
    type: 'EDS',
    connect_timeout: { seconds: 1 },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    ...extra,
  };
}

/** A ClusterLoadAssignment with endpoints on 127.0.0.1. */
export function assignment(clusterName: string, endpoints: { port: number; weight?: number }[]): object {
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        lb_endpoints: endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: e.port } } },
          load_balancing_weight: { value: e.weight ?? 1 },
        })),
      },
    ],
  };
}

/**
 * A bootstrap taking listeners and clusters over ADS from 127.0.0.1:`xdsPort`; with several
 * ports, the xDS cluster lists them in this order (control-plane replicas to fail over between).
 */
export function adsBootstrap(opts: {
  adminPort: number;
  xdsPort: number | readonly number[];
  apiType?: 'GRPC' | 'DELTA_GRPC';
  nodeId?: string;
  /** node.cluster: which role a meshlet control plane gives this node. */
  nodeCluster?: string;
  /** The ADS cluster's connection_keepalive, e.g. `{interval: 1s, timeout: 1s}`. */
  keepalive?: string;
  /** mTLS to the control plane: this client certificate, and the control plane's SPIFFE ID to verify. */
  tls?: { cert: CertFiles; san?: string };
}): string {
  const xdsPorts = typeof opts.xdsPort === 'number' ? [opts.xdsPort] : opts.xdsPort;
  return `
node: {id: ${opts.nodeId ?? 'sidecar-1'}, cluster: ${opts.nodeCluster ?? 'test'}, locality: {zone: z1}, metadata: {team: payments}}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${opts.adminPort}}}}
dynamic_resources:
  ads_config:
    api_type: ${opts.apiType ?? 'GRPC'}
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds_cluster}}]
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {${opts.keepalive === undefined ? '' : `connection_keepalive: ${opts.keepalive}`}}}${
  opts.tls === undefined
    ? ''
    : `
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context: ${commonTlsContext(opts.tls.cert, opts.tls.san)}`
}
    load_assignment:
      cluster_name: xds_cluster
      endpoints: [{lb_endpoints: [${xdsPorts.map((port) => `{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}}}`).join(', ')}]}]
`;
}

// ---------------------------------------------------------------------------------------------
// A proxy process driven over ADS

export interface AdsProxy {
  readonly ads: AdsTestServer;
  /** Resolves once /ready says LIVE. */
  readonly proxy: Promise<ProxyProcess>;
  readonly adminUrl: string;
  /** The URL of the listener a test names `main` on `listenerPort`. */
  readonly base: string;
  readonly listenerPort: number;
  /** Echo servers by name (each answers with `x-served-by: <name>`). */
  readonly upstreams: Record<string, number>;
  stop(): Promise<void>;
}

/** An ADS test server, echo upstreams, and a `meshlet proxy` process whose bootstrap points at the server. */
export async function startAdsProxy(opts: { upstreams?: string[]; apiType?: 'GRPC' | 'DELTA_GRPC'; args?: string[] } = {}): Promise<AdsProxy> {
  const ads = await AdsTestServer.start();
  const [adminPort, listenerPort] = [await freePort(), await freePort()];
  const upstreams: Record<string, number> = {};
  const servers: Server[] = [];
  for (const name of opts.upstreams ?? ['a', 'b']) {
    upstreams[name] = await freePort();
    servers.push(await startEchoServer(name, upstreams[name]!));
  }
  const proxy = startProxy(adsBootstrap({ adminPort, xdsPort: ads.port, apiType: opts.apiType }), adminPort, opts.args);
  // Not awaited yet: the proxy turns LIVE only once the test has served it its config.
  proxy.catch(() => undefined);
  return {
    ads,
    proxy,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    base: `http://127.0.0.1:${listenerPort}`,
    listenerPort,
    upstreams,
    async stop() {
      await (await proxy.catch(() => undefined))?.stop('SIGKILL');
      ads.stop();
      for (const server of servers) server.close();
    },
  };
}

export async function httpGet(url: string): Promise<{ status: number; text: string; servedBy: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text(), servedBy: String(res.headers['x-served-by'] ?? '') };
}

/** Who served `n` sequential requests (the status instead, for non-200 answers). */
export async function tally(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await httpGet(url);
    const key = r.status === 200 ? r.servedBy : String(r.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The value of the first /stats/prometheus sample matching `pattern`. */
export async function metricValue(adminUrl: string, pattern: RegExp): Promise<number | undefined> {
  const text = (await httpGet(`${adminUrl}/stats/prometheus`)).text;
  const line = text.split('\n').find((l) => pattern.test(l));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** /config_dump's sections by their type's last name (ClustersConfigDump...). */
export async function configDump(adminUrl: string): Promise<Record<string, any>> {
  const dump = JSON.parse((await httpGet(`${adminUrl}/config_dump`)).text);
  return Object.fromEntries(dump.configs.map((c: any) => [c['@type'].split('.').pop(), c]));
}

/**
 * 4 clients sending back to back (for at most 20 s) while config changes. Tallies pause it:
 * the balancer's sequence is exact, and interleaved load would shift whose turn it is.
 */
export function steadyLoad(url: string) {
  let stop = false;
  let pause: Promise<void> | undefined;
  const failures: string[] = [];
  let done = 0;
  const deadline = Date.now() + 20_000;
  const clients = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stop && Date.now() < deadline) {
        await pause;
        const r = await httpGet(url).catch((err: Error) => ({ status: 0, text: err.message, servedBy: '' }));
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
        done++;
      }
    }),
  );
  return {
    async paused<T>(fn: () => Promise<T>): Promise<T> {
      let resume!: () => void;
      pause = new Promise((r) => (resume = r));
      // Requests in flight finish first (each takes a few ms).
      await new Promise((r) => setTimeout(r, 50));
      try {
        return await fn();
      } finally {
        pause = undefined;
        resume();
      }
    },
    async stop(): Promise<{ done: number; failures: string[] }> {
      stop = true;
      await clients;
      return { done, failures };
    },
  };
}
