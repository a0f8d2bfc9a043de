import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from '../config/field-support';

const CONNECTIONS_MONITOR = 'envoy.resource_monitors.global_downstream_max_connections';
const CONNECTIONS_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig';
const HEAP_MONITOR = 'envoy.resource_monitors.fixed_heap';
const HEAP_TYPE = 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig';
const ACTIONS = ['envoy.overload_actions.stop_accepting_requests', 'envoy.overload_actions.stop_accepting_connections'] as const;
type ActionName = (typeof ACTIONS)[number];

/** The bootstrap's `overload_manager`, as parsed once; immutable. */
export interface OverloadConfig {
  readonly refreshIntervalMs: number;
  /** global_downstream_max_connections: connections past this are closed on accept. */
  readonly maxConnections: number | undefined;
  /** fixed_heap: the heap size its pressure is measured against. */
  readonly maxHeapBytes: number | undefined;
  /** Per action, the heap pressure (0..1) at which it engages. */
  readonly actions: Readonly<Partial<Record<ActionName, number>>>;
}

/**
 * Without an overload_manager, meshlet still sheds new requests when the V8 heap is this full:
 * past it, a node process spends its time collecting garbage and then dies, taking every
 * in-flight request with it.
 */
export const DEFAULT_HEAP_SHED_THRESHOLD = 0.95;

/** `overload_manager` (normalized decoder output) → OverloadConfig; problems go to `issues`. */
export function parseOverloadManager(config: any, path: string, issues: ConfigIssue[]): OverloadConfig | undefined {
  if (config === undefined) return undefined;
  onlyFields(config, path, ['refresh_interval', 'resource_monitors', 'actions'], issues);
  let maxConnections: number | undefined;
  let maxHeapBytes: number | undefined;
  (config.resource_monitors ?? []).forEach((monitor: any, i: number) => {
    const at = `${path}.resource_monitors[${i}]`;
    onlyFields(monitor, at, ['name', 'typed_config'], issues);
    const type = monitor.typed_config?.['@type'];
    if (monitor.name === CONNECTIONS_MONITOR && type === CONNECTIONS_TYPE) {
      maxConnections = Number(monitor.typed_config.max_active_downstream_connections);
    } else if (monitor.name === HEAP_MONITOR && type === HEAP_TYPE) {
      maxHeapBytes = Number(monitor.typed_config.max_heap_size_bytes);
    } else {
      issues.push({ path: at, message: `resource monitor "${monitor.name}" (${type ?? 'no typed_config'}) is not supported; meshlet has ${CONNECTIONS_MONITOR} and ${HEAP_MONITOR}` });
    }
  });
  const actions: Partial<Record<ActionName, number>> = {};
  (config.actions ?? []).forEach((action: any, i: number) => {
    const at = `${path}.actions[${i}]`;
    onlyFields(action, at, ['name', 'triggers'], issues);
    if (!ACTIONS.includes(action.name)) {
      issues.push({ path: `${at}.name`, message: `overload action "${action.name}" is not supported (${ACTIONS.join(', ')})` });
      return;
    }
    (action.triggers ?? []).forEach((trigger: any, j: number) => {
      const tat = `${at}.triggers[${j}]`;
      onlyFields(trigger, tat, ['name', 'threshold'], issues);
      if (trigger.name !== HEAP_MONITOR || maxHeapBytes === undefined) {
        issues.push({ path: `${tat}.name`, message: `meshlet triggers actions on ${HEAP_MONITOR}, which must be among the resource_monitors` });
      } else if (trigger.threshold === undefined) {
        issues.push({ path: `${tat}.threshold`, message: 'required: meshlet supports threshold triggers' });
      } else {
        actions[action.name as ActionName] = trigger.threshold.value ?? 0;
      }
    });
  });
  return { refreshIntervalMs: config.refresh_interval ?? 1000, maxConnections, maxHeapBytes, actions };
}
