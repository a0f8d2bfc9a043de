import type { NodeConfig } from '../proxy/config/bootstrap';

const VERSION: string = require('../../package.json').version;

/**
 * The bootstrap's `node` as an envoy.config.core.v3.Node for DiscoveryRequests, in the object
 * form protobufjs encodes. The control plane tells proxies apart by it (id, cluster, locality).
 */
export function nodeMessage(node: NodeConfig): object {
  return {
    id: node.id,
    cluster: node.cluster,
    locality: node.locality,
    metadata: node.metadata === undefined ? undefined : struct(node.metadata),
    user_agent_name: 'meshlet',
    user_agent_version: VERSION,
  };
}

// protobufjs's bundled struct.proto names Value's fields in camelCase.
function struct(json: Readonly<Record<string, unknown>>): object {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, value(v)])) };
}

function value(v: unknown): object {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
  return { structValue: struct(v as Record<string, unknown>) };
}
