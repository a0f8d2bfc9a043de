import type { CircuitBreakerThresholds } from '../cluster/circuit-breakers';
import type { Cluster } from '../cluster/cluster';
import { HealthFlag, healthFlagsToString } from '../cluster/health-flags';
import type { UpstreamHost } from '../cluster/upstream-host';
import type { ProxyServer } from '../server';

/** `/clusters` in Envoy's text layout: `cluster::host:port::stat::value` lines. */
export function clustersText(proxy: ProxyServer): string {
  const lines: string[] = [];
  for (const cluster of proxy.clusters.all()) {
    const name = cluster.name;
    const outlier = cluster.outlier;
    if (outlier !== undefined) {
      lines.push(
        `${name}::outlier::success_rate_average::${outlier.externalNumbers.average}`,
        `${name}::outlier::success_rate_ejection_threshold::${outlier.externalNumbers.ejectionThreshold}`,
        `${name}::outlier::local_origin_success_rate_average::${outlier.localOriginNumbers.average}`,
        `${name}::outlier::local_origin_success_rate_ejection_threshold::${outlier.localOriginNumbers.ejectionThreshold}`,
      );
    }
    breakerLines(lines, name, 'default_priority', cluster.config.circuitBreakers);
    if (cluster.config.circuitBreakersHigh !== undefined) breakerLines(lines, name, 'high_priority', cluster.config.circuitBreakersHigh);
    for (const host of cluster.hosts) {
      const prefix = `${name}::${host.key}`;
      const [region = '', zone = '', subZone = ''] = host.locality.split('/');
      const monitor = outlier?.monitor(host);
      lines.push(
        `${prefix}::cx_active::${host.connections}`,
        `${prefix}::rq_active::${host.activeRequests}`,
        `${prefix}::weight::${host.weight}`,
        `${prefix}::priority::${host.priority}`,
        `${prefix}::health_flags::${healthFlagsToString(host.healthFlags)}`,
        `${prefix}::region::${region}`,
        `${prefix}::zone::${zone}`,
        `${prefix}::sub_zone::${subZone}`,
        `${prefix}::success_rate::${monitor?.successRate ?? -1}`,
        `${prefix}::local_origin_success_rate::${monitor?.localOriginSuccessRate ?? -1}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

function breakerLines(lines: string[], cluster: string, priority: string, t: CircuitBreakerThresholds): void {
  const prefix = `${cluster}::${priority}`;
  lines.push(
    `${prefix}::max_connections::${t.maxConnections}`,
    `${prefix}::max_pending_requests::${t.maxPendingRequests}`,
    `${prefix}::max_requests::${t.maxRequests}`,
    `${prefix}::max_retries::${t.maxRetries}`,
  );
}

/** `/clusters?format=json`, shaped like Envoy's `cluster_statuses` (false flags left out, as proto3 JSON does). */
export function clustersJson(proxy: ProxyServer): unknown {
  return {
    cluster_statuses: [...proxy.clusters.all()].map((cluster) => {
      const outlier = cluster.outlier;
      const status: Record<string, unknown> = {
        name: cluster.name,
        type: cluster.config.type,
        lb_policy: cluster.config.lbPolicy,
        circuit_breakers: { thresholds: thresholdsJson(cluster) },
      };
      if (outlier !== undefined && outlier.externalNumbers.ejectionThreshold >= 0) {
        status.success_rate_ejection_threshold = { value: outlier.externalNumbers.ejectionThreshold };
      }
      if (outlier !== undefined && outlier.localOriginNumbers.ejectionThreshold >= 0) {
        status.local_origin_success_rate_ejection_threshold = { value: outlier.localOriginNumbers.ejectionThreshold };
      }
      status.host_statuses = cluster.hosts.map((host) => hostJson(cluster, host));
      return status;
    }),
  };
}

function hostJson(cluster: Cluster, host: UpstreamHost): unknown {
  const health: Record<string, unknown> = {};
  if (host.hasFlag(HealthFlag.FAILED_ACTIVE_HC)) health.failed_active_health_check = true;
  if (host.hasFlag(HealthFlag.FAILED_OUTLIER_CHECK)) health.failed_outlier_check = true;
  if (host.hasFlag(HealthFlag.PENDING_ACTIVE_HC)) health.pending_active_hc = true;
  if (host.hasFlag(HealthFlag.ACTIVE_HC_TIMEOUT)) health.active_hc_timeout = true;
  health.eds_health_status = host.hasFlag(HealthFlag.FAILED_EDS_HEALTH) ? 'UNHEALTHY' : 'HEALTHY';
  const json: Record<string, unknown> = {
    address: { socket_address: { address: host.endpoint.address, port_value: host.endpoint.port } },
    weight: host.weight,
    priority: host.priority,
    locality: host.locality,
    health_status: health,
    health_flags: healthFlagsToString(host.healthFlags),
    stats: { cx_active: host.connections, rq_active: host.activeRequests },
  };
  const monitor = cluster.outlier?.monitor(host);
  if (monitor !== undefined && monitor.successRate >= 0) json.success_rate = { value: monitor.successRate };
  if (monitor !== undefined && monitor.localOriginSuccessRate >= 0) json.local_origin_success_rate = { value: monitor.localOriginSuccessRate };
  return json;
}

function thresholdsJson(cluster: Cluster): unknown[] {
  const out: unknown[] = [];
  const add = (priority: string, t: CircuitBreakerThresholds): void => {
    out.push({
      priority,
      max_connections: t.maxConnections,
      max_pending_requests: t.maxPendingRequests,
      max_requests: t.maxRequests,
      max_retries: t.maxRetries,
      ...(t.retryBudget === undefined
        ? {}
        : { retry_budget: { budget_percent: { value: t.retryBudget.budgetPercent }, min_retry_concurrency: t.retryBudget.minRetryConcurrency } }),
    });
  };
  add('DEFAULT', cluster.config.circuitBreakers);
  if (cluster.config.circuitBreakersHigh !== undefined) add('HIGH', cluster.config.circuitBreakersHigh);
  return out;
}
