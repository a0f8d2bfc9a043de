import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from '../config/field-support';

/**
 * The one place that decides which Envoy fields meshlet's router implements, per message.
 * The decoder has already rejected fields Envoy does not know, so any other present field is
 * valid Envoy that meshlet would otherwise silently ignore: it is reported instead.
 */
const SUPPORTED_FIELDS = {
  RouteConfiguration: [
    'name',
    'virtual_hosts',
    'internal_only_headers',
    'response_headers_to_add',
    'response_headers_to_remove',
    'request_headers_to_add',
    'request_headers_to_remove',
    'most_specific_header_mutations_wins',
    'max_direct_response_body_size_bytes',
    'ignore_port_in_host_matching',
  ],
  VirtualHost: [
    'name',
    'domains',
    'routes',
    'request_headers_to_add',
    'request_headers_to_remove',
    'response_headers_to_add',
    'response_headers_to_remove',
    'retry_policy',
    'per_request_buffer_limit_bytes',
  ],
  Route: [
    'name',
    'match',
    'route',
    'redirect',
    'direct_response',
    'request_headers_to_add',
    'request_headers_to_remove',
    'response_headers_to_add',
    'response_headers_to_remove',
    'per_request_buffer_limit_bytes',
  ],
  RouteMatch: ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'headers', 'query_parameters'],
  HeaderMatcher: [
    'name',
    'exact_match',
    'safe_regex_match',
    'range_match',
    'present_match',
    'prefix_match',
    'suffix_match',
    'contains_match',
    'string_match',
    'invert_match',
    'treat_missing_header_as_empty',
  ],
  Int64Range: ['start', 'end'],
  QueryParameterMatcher: ['name', 'string_match', 'present_match'],
  StringMatcher: ['exact', 'prefix', 'suffix', 'safe_regex', 'contains', 'ignore_case'],
  RegexMatcher: ['google_re2', 'regex'],
  GoogleRE2: [],
  RegexMatchAndSubstitute: ['pattern', 'substitution'],
  RouteAction: [
    'cluster',
    'weighted_clusters',
    'prefix_rewrite',
    'regex_rewrite',
    'host_rewrite_literal',
    'auto_host_rewrite',
    'timeout',
    'retry_policy',
    'hash_policy',
    'max_stream_duration',
    'upgrade_configs',
    'idle_timeout',
  ],
  // The connection manager's and the route's (neither's filters nor connect_config).
  UpgradeConfig: ['upgrade_type', 'enabled'],
  MaxStreamDuration: ['max_stream_duration', 'grpc_timeout_header_max', 'grpc_timeout_header_offset'],
  WeightedCluster: ['clusters', 'total_weight'],
  ClusterWeight: [
    'name',
    'weight',
    'request_headers_to_add',
    'request_headers_to_remove',
    'response_headers_to_add',
    'response_headers_to_remove',
  ],
  HashPolicy: ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal'],
  HashPolicyHeader: ['header_name', 'regex_rewrite'],
  HashPolicyCookie: ['name'],
  HashPolicyConnectionProperties: ['source_ip'],
  HashPolicyQueryParameter: ['name'],
  RedirectAction: [
    'https_redirect',
    'scheme_redirect',
    'host_redirect',
    'port_redirect',
    'path_redirect',
    'prefix_rewrite',
    'regex_rewrite',
    'response_code',
    'strip_query',
  ],
  DirectResponseAction: ['status', 'body'],
  DataSource: ['inline_bytes', 'inline_string'],
  HeaderValueOption: ['header', 'append', 'append_action', 'keep_empty_value'],
  HeaderValue: ['key', 'value'],
} as const satisfies Record<string, readonly string[]>;

type RouteMessage = keyof typeof SUPPORTED_FIELDS;

const SUPPORTED: ReadonlyMap<RouteMessage, ReadonlySet<string>> = new Map(
  Object.entries(SUPPORTED_FIELDS).map(([message, fields]) => [message as RouteMessage, new Set<string>(fields)]),
);

/** Reports every present field of `message` that meshlet does not implement. */
export function checkSupportedFields(value: object, message: RouteMessage, path: string, issues: ConfigIssue[]): void {
  onlyFields(value, path, SUPPORTED.get(message)!, issues);
}

export function fieldPath(base: string, field: string): string {
  return base === '' ? field : `${base}.${field}`;
}

/**
 * The members of a proto `oneof` that are set, so callers can require at most (or exactly) one.
 * `fields` may name members meshlet does not support, which the typed config omits.
 */
export function presentFields<F extends string>(value: object, fields: readonly F[]): F[] {
  return fields.filter((field) => (value as Record<string, unknown>)[field] !== undefined);
}
