import type { ProxyServer } from '../server';

/**
 * `/config_dump` in Envoy's layout (bootstrap, clusters, listeners, each with its config dump
 * `@type`; with ADS also endpoints and routes, and the dynamic resources with the version and
 * time they were accepted). Resources are shown as meshlet decoded them: field names as in the
 * protos, durations in milliseconds.
 */
export function configDump(proxy: ProxyServer): unknown {
  const dynamic = proxy.xds?.dump();
  const configs: object[] = [
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
      bootstrap: proxy.bootstrap.source,
    },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      ...dynamic?.clusters,
      static_clusters: proxy.bootstrap.clusters.map((c) => ({ cluster: c.source })),
    },
  ];
  if (dynamic) configs.push({ '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', ...dynamic.endpoints });
  configs.push({
    '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
    ...dynamic?.listeners,
    static_listeners: proxy.bootstrap.listeners.map((l) => ({ listener: l.source })),
  });
  if (dynamic) configs.push({ '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', ...dynamic.routes });
  return { configs };
}
