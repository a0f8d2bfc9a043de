/**
 * The subset of envoy.config.route.v3 (and the envoy.type / envoy.config.core messages it embeds)
 * that meshlet's router consumes, in the decoder's normalized form: proto field names, only
 * present fields set, enums as NAME strings, Durations as milliseconds, wrappers as plain values.
 *
 * Fields outside this subset are valid Envoy but not implemented; `supported-fields.ts` lists what
 * each message may carry and the compile step reports anything else.
 */
/** The four header mutation fields every level of Envoy's route configuration carries. */
export interface HeaderMutationFields {
  readonly request_headers_to_add?: readonly HeaderValueOption[];
  readonly request_headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly response_headers_to_remove?: readonly string[];
}

export interface RouteConfiguration extends HeaderMutationFields {
  readonly name?: string;
  readonly virtual_hosts?: readonly VirtualHost[];
  readonly internal_only_headers?: readonly string[];
  readonly most_specific_header_mutations_wins?: boolean;
  /** google.protobuf.UInt32Value; Envoy's default is 4096. */
  readonly max_direct_response_body_size_bytes?: number;
  readonly ignore_port_in_host_matching?: boolean;
}

export interface VirtualHost extends HeaderMutationFields {
  readonly name?: string;
  readonly domains?: readonly string[];
  readonly routes?: readonly Route[];
  readonly retry_policy?: RetryPolicy;
  /** google.protobuf.UInt32Value: the largest request body buffered for retries. */
  readonly per_request_buffer_limit_bytes?: number;
}

export interface Route extends HeaderMutationFields {
  readonly name?: string;
  readonly match?: RouteMatch;
  readonly route?: RouteAction;
  readonly redirect?: RedirectAction;
  readonly direct_response?: DirectResponseAction;
  /** google.protobuf.UInt32Value: the largest request body buffered for retries. */
  readonly per_request_buffer_limit_bytes?: number;
}

export interface RouteMatch {
  readonly prefix?: string;
  readonly path?: string;
  readonly safe_regex?: RegexMatcher;
  readonly path_separated_prefix?: string;
  /** google.protobuf.BoolValue; Envoy's default is true. */
  readonly case_sensitive?: boolean;
  readonly headers?: readonly HeaderMatcher[];
  readonly query_parameters?: readonly QueryParameterMatcher[];
}

export interface HeaderMatcher {
  readonly name?: string;
  readonly exact_match?: string;
  readonly safe_regex_match?: RegexMatcher;
  readonly range_match?: Int64Range;
  readonly present_match?: boolean;
  readonly prefix_match?: string;
  readonly suffix_match?: string;
  readonly contains_match?: string;
  readonly string_match?: StringMatcher;
  readonly invert_match?: boolean;
  readonly treat_missing_header_as_empty?: boolean;
}

/** envoy.type.v3.Int64Range: half-open [start, end). */
export interface Int64Range {
  readonly start?: number;
  readonly end?: number;
}

export interface QueryParameterMatcher {
  readonly name?: string;
  readonly string_match?: StringMatcher;
  readonly present_match?: boolean;
}

/** envoy.type.matcher.v3.StringMatcher */
export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly safe_regex?: RegexMatcher;
  readonly contains?: string;
  readonly ignore_case?: boolean;
}

/** envoy.type.matcher.v3.RegexMatcher */
export interface RegexMatcher {
  /** Deprecated engine selector; RE2 is the only engine, so it carries nothing meshlet reads. */
  readonly google_re2?: Readonly<Record<string, never>>;
  readonly regex?: string;
}

/** envoy.type.matcher.v3.RegexMatchAndSubstitute */
export interface RegexMatchAndSubstitute {
  readonly pattern?: RegexMatcher;
  readonly substitution?: string;
}

export interface RouteAction {
  readonly max_stream_duration?: { readonly max_stream_duration?: number; readonly grpc_timeout_header_max?: number; readonly grpc_timeout_header_offset?: number };
  readonly cluster?: string;
  readonly weighted_clusters?: WeightedCluster;
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
  readonly host_rewrite_literal?: string;
  /** google.protobuf.BoolValue */
  readonly auto_host_rewrite?: boolean;
  /** Milliseconds; Envoy's default is 15000 and 0 disables the timeout. */
  readonly timeout?: number;
  readonly retry_policy?: RetryPolicy;
  readonly hash_policy?: readonly HashPolicy[];
  readonly upgrade_configs?: readonly UpgradeConfig[];
  /** Milliseconds: overrides the connection manager's stream_idle_timeout (0 disables it). */
  readonly idle_timeout?: number;
}

/** An `upgrade_configs` entry: RouteAction.UpgradeConfig, and the connection manager's (same fields as meshlet reads them). */
export interface UpgradeConfig {
  readonly upgrade_type?: string;
  /** google.protobuf.BoolValue; Envoy's default is true. */
  readonly enabled?: boolean;
}

/**
 * envoy.config.route.v3.RetryPolicy as decoded; compiled and validated by retry-policy.ts.
 */
export type RetryPolicy = Readonly<Record<string, unknown>>;

export interface WeightedCluster {
  readonly clusters?: readonly ClusterWeight[];
  /** Deprecated: the weights' sum is used; when set it must equal that sum. */
  readonly total_weight?: number;
}

export interface ClusterWeight extends HeaderMutationFields {
  readonly name?: string;
  /** google.protobuf.UInt32Value */
  readonly weight?: number;
}

export interface HashPolicy {
  readonly header?: HashPolicyHeader;
  readonly cookie?: HashPolicyCookie;
  readonly connection_properties?: HashPolicyConnectionProperties;
  readonly query_parameter?: HashPolicyQueryParameter;
  readonly terminal?: boolean;
}

export interface HashPolicyHeader {
  readonly header_name?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
}

export interface HashPolicyCookie {
  readonly name?: string;
}

export interface HashPolicyConnectionProperties {
  readonly source_ip?: boolean;
}

export interface HashPolicyQueryParameter {
  readonly name?: string;
}

export type RedirectResponseCode =
  | 'MOVED_PERMANENTLY'
  | 'FOUND'
  | 'SEE_OTHER'
  | 'TEMPORARY_REDIRECT'
  | 'PERMANENT_REDIRECT';

export interface RedirectAction {
  readonly https_redirect?: boolean;
  readonly scheme_redirect?: string;
  readonly host_redirect?: string;
  readonly port_redirect?: number;
  readonly path_redirect?: string;
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
  readonly response_code?: RedirectResponseCode;
  readonly strip_query?: boolean;
}

export interface DirectResponseAction {
  readonly status?: number;
  readonly body?: DataSource;
}

/** envoy.config.core.v3.DataSource */
export interface DataSource {
  readonly inline_bytes?: Buffer;
  readonly inline_string?: string;
}

export type HeaderAppendAction =
  | 'APPEND_IF_EXISTS_OR_ADD'
  | 'ADD_IF_ABSENT'
  | 'OVERWRITE_IF_EXISTS_OR_ADD'
  | 'OVERWRITE_IF_EXISTS';

/** envoy.config.core.v3.HeaderValueOption */
export interface HeaderValueOption {
  readonly header?: HeaderValue;
  /** Deprecated google.protobuf.BoolValue: true appends, false overwrites. */
  readonly append?: boolean;
  readonly append_action?: HeaderAppendAction;
  readonly keep_empty_value?: boolean;
}

/** envoy.config.core.v3.HeaderValue */
export interface HeaderValue {
  readonly key?: string;
  readonly value?: string;
}
