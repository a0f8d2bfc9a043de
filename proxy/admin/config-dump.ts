import type { ProxyServer } from '../server';

/**
 * `/config_dump` in Envoy's layout (bootstrap, clusters, listeners, each with its
 * config dump `@type`). Resources are shown as meshlet decoded them: field names
 * as in the protos, durations in milliseconds.
 */
export function configDump(proxy: ProxyServer): unknown {
  return {
    configs: [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
        bootstrap: proxy.bootstrap.source,
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
        static_clusters: [...proxy.clusters.all()].map((c) => ({ cluster: c.config.source })),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        static_listeners: [...proxy.listeners.values()].map((l) => ({ listener: l.config.source })),
      },
    ],
  };
}
