/** Listeners: HTTP listeners for sidecars and gateways, API listeners for proxyless gRPC. */
import { ADS_CONFIG_SOURCE, type GeneratedResource } from './generated-resource';

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/** Routes come over RDS on the same ADS stream, so a route change does not rebuild the listener. */
function connectionManager(statPrefix: string, routeConfigName: string): Record<string, unknown> {
  return {
    '@type': HCM_TYPE,
    stat_prefix: statPrefix,
    rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeConfigName },
    http_filters: [ROUTER_FILTER],
  };
}

export function httpListener(name: string, address: string, port: number, routeConfigName: string): GeneratedResource {
  return {
    name,
    json: {
      name,
      address: { socket_address: { address, port_value: port } },
      filter_chains: [{ filters: [{ name: HCM_FILTER, typed_config: connectionManager(name, routeConfigName) }] }],
    },
  };
}

/**
 * What a proxyless gRPC client resolves `xds:///<name>` to: a Listener named like the target,
 * whose api_listener is the connection manager, with no socket of its own.
 */
export function apiListener(name: string, routeConfigName: string): GeneratedResource {
  return { name, onDemand: true, json: { name, api_listener: { api_listener: connectionManager(name, routeConfigName) } } };
}
