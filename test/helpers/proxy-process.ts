import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';

export const MESHLET_BIN = join(__dirname, '..', '..', '..', 'bin', 'meshlet.js');

/** A port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export function writeTempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-test-'));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly adminUrl: string;
  /** stdout so far (access logs). */
  stdout(): string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process has exited by itself. */
  exited(): Promise<number | null>;
}

/** Runs `meshlet proxy` as a real process on a bootstrap and waits until /ready says LIVE. */
export async function startProxy(bootstrapYaml: string, adminPort: number, extraArgs: string[] = []): Promise<ProxyProcess> {
  const file = writeTempFile('bootstrap.yaml', bootstrapYaml);
  const child = spawn(process.execPath, [MESHLET_BIN, 'proxy', '--config', file, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`meshlet exited with ${child.exitCode}: ${err}`);
    try {
      const res = await request(`${adminUrl}/ready`);
      const text = await res.body.text();
      if (res.statusCode === 200 && text.startsWith('LIVE')) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`meshlet did not become ready: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    adminUrl,
    stdout: () => out,
    stderr: () => err,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
    exited: () => exited,
  };
}

/** An Envoy v3 bootstrap with one HTTP listener; `routes` and `clusters` are YAML fragments indented for their place. */
export function bootstrapYaml(opts: {
  adminPort: number;
  listenerPort: number;
  virtualHosts: string;
  clusters: string;
  hcmExtra?: string;
  routeConfigExtra?: string;
}): string {
  return `
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${opts.adminPort}}}}
static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: ${opts.listenerPort}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main_http
${opts.hcmExtra ?? ''}
          route_config:
            name: main
${opts.routeConfigExtra ?? ''}
            virtual_hosts:
${opts.virtualHosts}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
${opts.clusters}
`;
}

/** A STATIC cluster YAML fragment (indented for `clusters:`). */
export function staticCluster(name: string, endpoints: { port: number; weight?: number; health?: string }[], extra = ''): string {
  const lbEndpoints = endpoints
    .map(
      (e) => `        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${e.port}}}}
          load_balancing_weight: ${e.weight ?? 1}${e.health ? `\n          health_status: ${e.health}` : ''}`,
    )
    .join('\n');
  return `  - name: ${name}
    type: STATIC
    connect_timeout: 0.5s
${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
${lbEndpoints}`;
}

/** A virtual host sending everything to one cluster (a YAML fragment indented for `virtual_hosts:`). */
export function catchAllVirtualHost(cluster: string, timeout?: string): string {
  return `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /}
                route: {cluster: ${cluster}${timeout ? `, timeout: ${timeout}` : ''}}`;
}
