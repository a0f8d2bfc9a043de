import type { ConfigIssue } from '../../xds/config-error';
import { compileRegexSubstitution, type RegexSubstitution } from './re2';
import type { RegexMatchAndSubstitute } from './route-configuration';
import { fieldPath } from './supported-fields';

/** Rewrites a path without its query string; the caller keeps the query. */
export interface PathRewrite {
  rewrite(path: string): string;
}

/**
 * prefix_rewrite replaces what the route matched: the prefix for prefix matches, the whole path
 * for path and regex matches. So prefix "/prefix" with rewrite "/" turns "/prefix/etc" into
 * "//etc" and "/prefixetc" into "/etc", as Envoy's documentation warns.
 */
class PrefixRewrite implements PathRewrite {
  constructor(
    private readonly replacement: string,
    private readonly matchedPrefixLength: number | undefined,
  ) {}
  rewrite(path: string): string {
    return this.matchedPrefixLength === undefined ? this.replacement : this.replacement + path.slice(this.matchedPrefixLength);
  }
}

/** regex_rewrite replaces every match in the whole path, whatever the route matched. */
class RegexRewrite implements PathRewrite {
  constructor(private readonly substitution: RegexSubstitution) {}
  rewrite(path: string): string {
    return this.substitution.replaceAll(path);
  }
}

export interface PathRewriteFields {
  readonly prefix_rewrite?: string;
  readonly regex_rewrite?: RegexMatchAndSubstitute;
}

/** Shared by RouteAction and RedirectAction; undefined when nothing is rewritten. */
export function compilePathRewrite(
  config: PathRewriteFields,
  matchedPrefixLength: number | undefined,
  path: string,
  issues: ConfigIssue[],
): PathRewrite | undefined {
  if (config.regex_rewrite !== undefined) {
    if (config.prefix_rewrite) {
      issues.push({ path, message: 'cannot specify both prefix_rewrite and regex_rewrite' });
      return undefined;
    }
    const substitution = compileRegexSubstitution(config.regex_rewrite, fieldPath(path, 'regex_rewrite'), issues);
    return substitution && new RegexRewrite(substitution);
  }
  // Envoy treats an empty prefix_rewrite as no rewrite.
  return config.prefix_rewrite ? new PrefixRewrite(config.prefix_rewrite, matchedPrefixLength) : undefined;
}
