import type { ConfigIssue } from '../../xds/config-error';
import { compileHeaderMatcher, type HeaderMatcher } from './header-matcher';
import { compileQueryParameterMatcher, type QueryParameterMatcher } from './query-parameter-matcher';
import { compileFullMatchRegex } from './re2';
import type { RouteMatch } from './route-configuration';
import type { RouteRequest } from './route-request';
import { ExactMatcher, PrefixMatcher, RegexValueMatcher, type ValueMatcher } from './string-matcher';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

/** A prefix that must end at a path segment boundary: "/api" matches "/api" and "/api/x", not "/apix". */
class PathSeparatedPrefixMatcher implements ValueMatcher {
  private readonly prefix: PrefixMatcher;
  constructor(
    private readonly prefixLength: number,
    prefix: string,
    ignoreCase: boolean,
  ) {
    this.prefix = new PrefixMatcher(prefix, ignoreCase);
  }
  matches(path: string): boolean {
    return (
      this.prefix.matches(path) &&
      (path.length === this.prefixLength || path.charCodeAt(this.prefixLength) === 47) /* / */
    );
  }
}

export class RouteMatcher {
  constructor(
    private readonly path: ValueMatcher,
    private readonly headers: readonly HeaderMatcher[],
    private readonly queryParameters: readonly QueryParameterMatcher[],
    /**
     * How much of a matching path prefix_rewrite replaces: the prefix for prefix matches;
     * undefined for path and regex matches, where the whole path was matched.
     */
    readonly matchedPrefixLength: number | undefined,
  ) {}

  /** Envoy checks all conditions; the path goes first only because it is cheapest. */
  matches(req: RouteRequest): boolean {
    if (!this.path.matches(req.path)) return false;
    for (const header of this.headers) {
      if (!header.matches(req)) return false;
    }
    for (const parameter of this.queryParameters) {
      if (!parameter.matches(req.query)) return false;
    }
    return true;
  }
}

// The whole oneof, including members meshlet reports as unsupported.
const PATH_SPECIFIERS = [
  'prefix',
  'path',
  'safe_regex',
  'connect_matcher',
  'path_separated_prefix',
  'path_match_policy',
] as const;

export function compileRouteMatch(match: RouteMatch, path: string, issues: ConfigIssue[]): RouteMatcher | undefined {
  checkSupportedFields(match, 'RouteMatch', path, issues);
  const headers = (match.headers ?? []).map((h, i) => compileHeaderMatcher(h, fieldPath(path, `headers[${i}]`), issues));
  const queryParameters = (match.query_parameters ?? []).map((q, i) =>
    compileQueryParameterMatcher(q, fieldPath(path, `query_parameters[${i}]`), issues),
  );
  const specifiers = presentFields(match, PATH_SPECIFIERS);
  if (specifiers.length !== 1) {
    issues.push({ path, message: `exactly one of ${PATH_SPECIFIERS.join(', ')} is required` });
    return undefined;
  }
  const ignoreCase = match.case_sensitive === false;
  let pathMatcher: ValueMatcher | undefined;
  let matchedPrefixLength: number | undefined;
  switch (specifiers[0]!) {
    case 'prefix':
      pathMatcher = new PrefixMatcher(match.prefix!, ignoreCase);
      matchedPrefixLength = match.prefix!.length;
      break;
    case 'path':
      pathMatcher = new ExactMatcher(match.path!, ignoreCase);
      break;
    case 'safe_regex': {
      // As in Envoy, case_sensitive does not apply to regexes.
      const regex = compileFullMatchRegex(match.safe_regex!, fieldPath(path, 'safe_regex'), issues);
      pathMatcher = regex && new RegexValueMatcher(regex);
      break;
    }
    case 'path_separated_prefix': {
      const prefix = match.path_separated_prefix!;
      if (!/^[^?#]+[^?#/]$/.test(prefix)) {
        issues.push({
          path: fieldPath(path, 'path_separated_prefix'),
          message: 'must not be empty, contain ? or #, or end with /',
        });
        return undefined;
      }
      pathMatcher = new PathSeparatedPrefixMatcher(prefix.length, prefix, ignoreCase);
      matchedPrefixLength = prefix.length;
      break;
    }
    // connect_matcher and path_match_policy: already reported as unsupported.
  }
  if (!pathMatcher || headers.includes(undefined) || queryParameters.includes(undefined)) return undefined;
  return new RouteMatcher(
    pathMatcher,
    headers as HeaderMatcher[],
    queryParameters as QueryParameterMatcher[],
    matchedPrefixLength,
  );
}
