import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MESHLET_BIN, writeTempFile } from '../helpers/proxy-process';

const EXAMPLE = join(__dirname, '..', '..', '..', 'examples', 'demo-bootstrap.yaml');

function meshlet(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--help explains the commands and the proxy flags', async (t) => {
  const top = meshlet('--help');
  t.equal(top.code, 0);
  t.match(top.stdout, /proxy\s+Run the proxy/);
  const proxy = meshlet('proxy', '--help');
  t.equal(proxy.code, 0);
  for (const flag of ['--config', '--validate', '--log-level', '--drain-time-s']) t.match(proxy.stdout, flag);
});

t.test('--validate accepts the example bootstrap that npm start uses', async (t) => {
  const r = meshlet('proxy', '--config', EXAMPLE, '--validate');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /valid \(1 listeners, 1 clusters\)/);
});

/** A one-listener bootstrap routing to cluster "missing", with extra HCM fields and a cluster body given by the test. */
function brokenBootstrap(hcmExtra: string, cluster: string): string {
  return `
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
${hcmExtra}
          route_config:
            virtual_hosts:
            - name: v
              domains: ["*"]
              routes: [{match: {prefix: /}, route: {cluster: missing}}]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: c
${cluster}
`;
}

t.test('--validate reports every problem with its path, exit 1, no stack trace', async (t) => {
  const file = writeTempFile('bad.yaml', brokenBootstrap('          bogus_field: 1', '    connect_timeout: 250ms\n    type: STATIC'));
  const r = meshlet('proxy', '--config', file, '--validate');
  t.equal(r.code, 1);
  t.match(r.stderr, 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.bogus_field');
  t.match(r.stderr, 'static_resources.clusters[0].connect_timeout');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('semantic errors are reported by path too: unknown cluster, unsupported field', async (t) => {
  const file = writeTempFile('semantic.yaml', brokenBootstrap('', '    type: EDS\n    lb_policy: MAGLEV'));
  const r = meshlet('proxy', '--config', file);
  t.equal(r.code, 1, 'starting with a broken config exits 1');
  t.match(r.stderr, 'routes[0].route.cluster: unknown cluster "missing"');
  t.match(r.stderr, 'static_resources.clusters[0].type');
  t.match(r.stderr, 'static_resources.clusters[0].lb_policy');
});

t.test('a missing file is a clear error', async (t) => {
  const r = meshlet('proxy', '--config', '/nonexistent/bootstrap.yaml');
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot read \/nonexistent\/bootstrap.yaml: ENOENT/);
});
