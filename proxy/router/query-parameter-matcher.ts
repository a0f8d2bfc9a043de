import type { ConfigIssue } from '../../xds/config-error';
import type { QueryParameterMatcher as QueryParameterMatcherConfig } from './route-configuration';
import { queryParameterValue } from './route-request';
import { compileStringMatcher, type ValueMatcher } from './string-matcher';
import { checkSupportedFields, fieldPath } from './supported-fields';

/** Matches the first value of a query parameter, as Envoy does. */
export class QueryParameterMatcher {
  constructor(
    private readonly name: string,
    private readonly valueMatcher: ValueMatcher | undefined,
    /** present_match when set: whether the parameter must be present (true) or absent (false). */
    private readonly present: boolean | undefined,
  ) {}

  matches(query: string): boolean {
    const value = queryParameterValue(query, this.name);
    if (this.present !== undefined) return (value !== undefined) === this.present;
    // With neither string_match nor present_match, Envoy checks presence.
    return value !== undefined && (this.valueMatcher === undefined || this.valueMatcher.matches(value));
  }
}

export function compileQueryParameterMatcher(
  config: QueryParameterMatcherConfig,
  path: string,
  issues: ConfigIssue[],
): QueryParameterMatcher | undefined {
  checkSupportedFields(config, 'QueryParameterMatcher', path, issues);
  if (!config.name) {
    issues.push({ path: fieldPath(path, 'name'), message: 'is required' });
    return undefined;
  }
  if (config.string_match !== undefined && config.present_match !== undefined) {
    issues.push({ path, message: 'at most one of string_match, present_match may be set' });
    return undefined;
  }
  let valueMatcher: ValueMatcher | undefined;
  if (config.string_match !== undefined) {
    valueMatcher = compileStringMatcher(config.string_match, fieldPath(path, 'string_match'), issues);
    if (!valueMatcher) return undefined;
  }
  return new QueryParameterMatcher(config.name, valueMatcher, config.present_match);
}
