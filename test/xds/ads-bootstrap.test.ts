import t from 'tap';
import { parse } from 'yaml';
import { parseBootstrap } from '../../proxy/config/bootstrap';
import { ConfigError } from '../../xds/config-error';
import { adsBootstrap } from '../helpers/ads-test-server';

const base = () => parse(adsBootstrap({ adminPort: 9901, xdsPort: 18000 }));

/** The `path: message` lines of a rejected bootstrap. */
function problems(document: unknown): string[] {
  try {
    parseBootstrap(document);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const rdsListener = (configSource: object) => ({
  name: 'l',
  address: { socket_address: { address: '127.0.0.1', port_value: 10000 } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'l', rds: { config_source: configSource, route_config_name: 'r' }, http_filters: [ROUTER] } }] }],
});
const edsCluster = (extra: object) => ({ name: 'e', type: 'EDS', connect_timeout: '1s', ...extra });

t.test('an ADS bootstrap: node, the ADS cluster, LDS and CDS over ADS', async (t) => {
  const config = parseBootstrap(base());
  t.same(config.node, { id: 'sidecar-1', cluster: 'test', locality: { zone: 'z1' }, metadata: { team: 'payments' } });
  t.same(config.ads, {
    protocol: 'sotw',
    clusterName: 'xds_cluster',
    endpoints: [{ address: '127.0.0.1', port: 18000 }],
    nodeOnFirstMessageOnly: false,
    lds: true,
    cds: true,
  });
  t.equal(parseBootstrap(parse(adsBootstrap({ adminPort: 1, xdsPort: 2, apiType: 'DELTA_GRPC' }))).ads?.protocol, 'delta');
});

t.test('static RDS listeners and EDS clusters take their resources over ADS', async (t) => {
  const doc = base();
  doc.static_resources.listeners = [rdsListener({ ads: {}, resource_api_version: 'V3' })];
  doc.static_resources.clusters.push(edsCluster({ eds_cluster_config: { service_name: 'svc', eds_config: { ads: {} } } }));
  const config = parseBootstrap(doc);
  t.match(config.listeners[0], { name: 'l', chains: [{ routes: { kind: 'rds', name: 'r' } }] });
  t.match(config.clusters[1], { name: 'e', type: 'EDS', edsServiceName: 'svc', endpoints: [] });
});

t.test('config sources other than ADS are rejected with their path', async (t) => {
  const doc = base();
  doc.dynamic_resources.lds_config = { path_config_source: { path: '/etc/lds.yaml' } };
  doc.dynamic_resources.cds_config = { api_config_source: { api_type: 'GRPC' }, resource_api_version: 'V2' };
  doc.static_resources.listeners = [rdsListener({ self: {} })];
  doc.static_resources.clusters.push(edsCluster({ eds_cluster_config: { eds_config: { path_config_source: { path: '/x' } } } }));
  t.same(problems(doc), [
    'static_resources.clusters[1].eds_cluster_config.eds_config.path_config_source: not supported by meshlet: dynamic config comes over ADS only ({ads: {}})',
    'dynamic_resources.lds_config.path_config_source: not supported by meshlet: dynamic config comes over ADS only ({ads: {}})',
    'dynamic_resources.cds_config.api_config_source: not supported by meshlet: dynamic config comes over ADS only ({ads: {}})',
    'dynamic_resources.cds_config.resource_api_version: V2 is not supported (V3)',
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds.config_source.self: not supported by meshlet: dynamic config comes over ADS only ({ads: {}})',
  ]);
});

t.test('ads_config: GRPC or DELTA_GRPC, V3, one envoy_grpc service naming a static cluster', async (t) => {
  const doc = base();
  // No longer the ADS cluster below, so no HTTP/2 for it.
  delete doc.static_resources.clusters[0].typed_extension_protocol_options;
  doc.dynamic_resources.ads_config.api_type = 'REST';
  doc.dynamic_resources.ads_config.transport_api_version = 'V2';
  doc.dynamic_resources.ads_config.grpc_services = [{ envoy_grpc: { cluster_name: 'nowhere' } }];
  t.same(problems(doc), [
    'dynamic_resources.ads_config.api_type: REST is not supported (GRPC, DELTA_GRPC)',
    'dynamic_resources.ads_config.transport_api_version: V2 is not supported (V3)',
    'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: "nowhere" must name a static_resources cluster with its endpoints in load_assignment',
  ]);
  doc.dynamic_resources.ads_config = { api_type: 'GRPC', grpc_services: [{ google_grpc: { target_uri: 'cp:18000', stat_prefix: 'x' } }] };
  t.same(problems(doc), [
    'dynamic_resources.ads_config.grpc_services[0].google_grpc: not supported by meshlet',
    'dynamic_resources.ads_config.grpc_services[0].envoy_grpc: required: meshlet reaches the control plane through a static cluster (envoy_grpc.cluster_name)',
  ]);
});

t.test('RDS and EDS need the ADS stream; EDS clusters take no load_assignment; HTTP/2 settings only on the ADS cluster', async (t) => {
  const doc = base();
  delete doc.dynamic_resources;
  delete doc.static_resources.clusters[0].typed_extension_protocol_options;
  doc.static_resources.listeners = [rdsListener({ ads: {} })];
  doc.static_resources.clusters.push(edsCluster({}));
  t.same(problems(doc), [
    'static_resources.clusters[1].type: EDS clusters take their endpoints over ADS: the bootstrap needs dynamic_resources.ads_config',
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds.config_source.ads: needs dynamic_resources.ads_config in the bootstrap',
  ]);

  const withAds = base();
  withAds.static_resources.clusters.push(
    edsCluster({ eds_cluster_config: { eds_config: { ads: {} } }, load_assignment: { cluster_name: 'e' } }),
    // Any cluster may speak HTTP/2; only the ADS cluster's HTTP/2 settings are left to grpc-js.
    { ...withAds.static_resources.clusters[0], name: 'h2' },
    {
      ...withAds.static_resources.clusters[0],
      name: 'h2-tuned',
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 10 } },
        },
      },
    },
  );
  t.same(problems(withAds), [
    'static_resources.clusters[1].load_assignment: an EDS cluster takes its endpoints from EDS, not load_assignment',
    'static_resources.clusters[3].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.max_concurrent_streams: not supported by meshlet',
  ]);
});

t.test("the ADS cluster's connection_keepalive: PINGs for its gRPC channel; a timeout is required", async (t) => {
  const keepalive = (settings: object | undefined) => {
    const doc = base();
    doc.static_resources.clusters[0].typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config = {
      http2_protocol_options: { max_concurrent_streams: 100, ...(settings && { connection_keepalive: settings }) },
    };
    return doc;
  };
  const adsCluster = (doc: unknown) => parseBootstrap(doc).clusters.find((c) => c.name === 'xds_cluster')!;
  t.same(adsCluster(keepalive({ interval: '30s', timeout: '10s' })).http2Keepalive, { intervalMs: 30_000, timeoutMs: 10_000 });
  t.equal(adsCluster(keepalive(undefined)).http2Keepalive, undefined, 'none unless configured, as in Envoy');
  t.equal(adsCluster(keepalive({ timeout: '10s' })).http2Keepalive, undefined, 'no interval: no PINGs');
  const at = 'static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.connection_keepalive';
  t.same(problems(keepalive({ interval: '1s' })), [`${at}.timeout: value is required`]);
  t.same(problems(keepalive({ interval: '1s', timeout: '1s', interval_jitter: { value: 15 } })), [`${at}.interval_jitter: not supported by meshlet`]);
});
