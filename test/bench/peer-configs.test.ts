import t from 'tap';
import { parse } from 'yaml';
import { meshletBootstrap, meshletBootstrapYaml } from '../../bench/meshlet-bootstrap';
import { haproxyConfig } from '../../bench/peers/haproxy';
import { nginxProxyConfig, nginxStaticUpstreamConfig } from '../../bench/peers/nginx';
import { parsePeerArgs, peerArgv } from '../../bench/peers/peer-args';

t.test('nginx proxy: one worker, upstream keep-alive, HTTP/1.1 upstream, no access log', async (t) => {
  const conf = nginxProxyConfig({ dir: '/tmp/x', listenPort: 8081, upstreamPorts: [9001] });
  for (const directive of [
    'daemon off;',
    'worker_processes 1;',
    'access_log off;',
    'keepalive 64;',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'listen 127.0.0.1:8081;',
    'server 127.0.0.1:9001 max_fails=0;',
    'pid /tmp/x/nginx.pid;',
    'proxy_pass http://upstream;',
  ]) {
    t.ok(conf.includes(directive), directive);
  }
  t.notOk(conf.includes('proxy_next_upstream'), 'no retry directives without retry');
  t.equal(conf.split('{').length, conf.split('}').length, 'balanced braces');
  const retry = nginxProxyConfig({ dir: '/tmp/x', listenPort: 8081, upstreamPorts: [9001, 9002], retry: true });
  t.match(retry, /server 127\.0\.0\.1:9002 max_fails=0;/);
  t.match(retry, /proxy_next_upstream error timeout/);
  t.match(retry, /proxy_next_upstream_tries 3;/);
});

t.test('nginx static upstream serves the body verbatim', async (t) => {
  const conf = nginxStaticUpstreamConfig({ dir: '/tmp/x', listenPort: 9000, body: 'say "hi"\n' });
  t.match(conf, /return 200 "say \\"hi\\"\\n";/);
  t.throws(() => nginxStaticUpstreamConfig({ dir: '/tmp/x', listenPort: 9000, body: '$host' }));
});

t.test('haproxy: one thread, http-reuse always, servers without health checks', async (t) => {
  const conf = haproxyConfig({ listenPort: 8082, upstreamPorts: [9001] });
  for (const directive of ['nbthread 1', 'http-reuse always', 'mode http', 'option http-keep-alive', 'bind 127.0.0.1:8082', 'server up0 127.0.0.1:9001']) {
    t.ok(conf.includes(directive), directive);
  }
  t.notOk(conf.includes(' check'), 'no health checks');
  t.notOk(conf.includes('retries'), 'no retries unless asked');
  const retry = haproxyConfig({ listenPort: 8082, upstreamPorts: [9001, 9002], retry: true });
  for (const directive of ['retries 2', 'retry-on conn-failure', 'option redispatch 1', 'server up1 127.0.0.1:9002']) t.ok(retry.includes(directive), directive);
});

t.test('Node peers take --port and --upstream', async (t) => {
  t.same(parsePeerArgs(peerArgv(8083, 9001)), { port: 8083, upstreamHost: '127.0.0.1', upstreamPort: 9001 });
  t.throws(() => parsePeerArgs(['--port', '1']));
});

t.test('meshlet bootstrap follows the Envoy v3 shape', async (t) => {
  const doc = parse(meshletBootstrapYaml({ adminPort: 9901, listenPort: 10000, upstreamPorts: [9001] })) as Record<string, any>;
  t.same(doc.admin, { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } });
  const listener = doc.static_resources.listeners[0];
  t.equal(listener.name, 'bench');
  t.equal(listener.address.socket_address.port_value, 10000);
  const hcm = listener.filter_chains[0].filters[0];
  t.equal(hcm.name, 'envoy.filters.network.http_connection_manager');
  t.equal(hcm.typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
  t.equal(hcm.typed_config.stat_prefix, 'bench');
  t.same(hcm.typed_config.route_config.virtual_hosts[0].routes, [{ match: { prefix: '/' }, route: { cluster: 'upstream' } }]);
  t.equal(hcm.typed_config.http_filters[0].typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
  const cluster = doc.static_resources.clusters[0];
  t.match(cluster, { name: 'upstream', type: 'STATIC', connect_timeout: '1s', lb_policy: 'ROUND_ROBIN' });
  t.same(cluster.load_assignment.endpoints[0].lb_endpoints, [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9001 } } } }]);
  t.equal(listener.filter_chains[0].transport_socket, undefined);
  t.equal(cluster.transport_socket, undefined);
});

t.test('meshlet bootstrap for retries and for each side of mTLS', async (t) => {
  const files = { certificateChain: '/c/server.crt', privateKey: '/c/server.key', trustedCa: '/c/ca.crt' };
  const retry = meshletBootstrap({ adminPort: 1, listenPort: 2, upstreamPorts: [3, 4], retry: { retryOn: 'connect-failure,5xx', numRetries: 2 } }) as any;
  t.same(retry.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route, {
    cluster: 'upstream',
    retry_policy: {
      retry_on: 'connect-failure,5xx',
      num_retries: 2,
      retry_host_predicate: [
        {
          name: 'envoy.retry_host_predicates.previous_hosts',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
        },
      ],
      host_selection_retry_max_attempts: 3,
      retry_back_off: { base_interval: '0.001s', max_interval: '0.002s' },
    },
  });
  t.same(retry.static_resources.clusters[0].circuit_breakers, { thresholds: [{ max_retries: 1024 }] }, 'retries not capped, as in nginx and HAProxy');
  t.equal(retry.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints.length, 2);

  const server = meshletBootstrap({ adminPort: 1, listenPort: 2, upstreamPorts: [3], downstreamTls: files }) as any;
  const ts = server.static_resources.listeners[0].filter_chains[0].transport_socket;
  t.equal(ts.name, 'envoy.transport_sockets.tls');
  t.equal(ts.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  t.equal(ts.typed_config.require_client_certificate, true);
  t.same(ts.typed_config.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/c/server.crt' }, private_key: { filename: '/c/server.key' } }]);
  t.same(ts.typed_config.common_tls_context.validation_context, { trusted_ca: { filename: '/c/ca.crt' } });

  const client = meshletBootstrap({
    adminPort: 1,
    listenPort: 2,
    upstreamPorts: [3],
    upstreamTls: { ...files, sni: 'upstream.bench.local', peerUriSan: 'spiffe://bench.local/upstream' },
  }) as any;
  const cts = client.static_resources.clusters[0].transport_socket;
  t.equal(cts.typed_config['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  t.equal(cts.typed_config.sni, 'upstream.bench.local');
  t.same(cts.typed_config.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/c/server.crt' }, private_key: { filename: '/c/server.key' } }]);
  t.same(
    cts.typed_config.common_tls_context.validation_context,
    { trusted_ca: { filename: '/c/ca.crt' }, match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://bench.local/upstream' } }] },
    'the client side verifies the CA and the server\'s SPIFFE ID',
  );
  t.equal(ts.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names, undefined, 'the server side verifies the client certificate against the CA');
});
