import type { ProxyServer } from '../server';

/** `/clusters` in Envoy's text layout: `cluster::host:port::stat::value` lines. */
export function clustersText(proxy: ProxyServer): string {
  const lines: string[] = [];
  for (const cluster of proxy.clusters.all()) {
    for (const host of cluster.hosts) {
      const prefix = `${cluster.name}::${host.key}`;
      lines.push(
        `${prefix}::cx_active::${host.connections}`,
        `${prefix}::rq_active::${host.activeRequests}`,
        `${prefix}::weight::${host.weight}`,
        `${prefix}::priority::${host.priority}`,
        `${prefix}::health_flags::${host.healthy ? 'healthy' : '/failed_eds_health'}`,
        `${prefix}::region::${host.locality.split('/')[0] ?? ''}`,
        `${prefix}::zone::${host.locality.split('/')[1] ?? ''}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** `/clusters?format=json`, shaped like Envoy's `cluster_statuses`. */
export function clustersJson(proxy: ProxyServer): unknown {
  return {
    cluster_statuses: [...proxy.clusters.all()].map((cluster) => ({
      name: cluster.name,
      type: cluster.config.type,
      lb_policy: cluster.config.lbPolicy,
      host_statuses: cluster.hosts.map((host) => ({
        address: { socket_address: { address: host.endpoint.address, port_value: host.endpoint.port } },
        weight: host.weight,
        priority: host.priority,
        locality: host.locality,
        health_status: { eds_health_status: host.healthy ? 'HEALTHY' : 'UNHEALTHY' },
        stats: { cx_active: host.connections, rq_active: host.activeRequests },
      })),
    })),
  };
}
