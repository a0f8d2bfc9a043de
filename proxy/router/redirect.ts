import type { ConfigIssue } from '../../xds/config-error';
import { compilePathRewrite, type PathRewrite } from './path-rewrite';
import type { RedirectAction, RedirectResponseCode } from './route-configuration';
import type { RouteRequest } from './route-request';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

const RESPONSE_CODES: Readonly<Record<RedirectResponseCode, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

/** A compiled RedirectAction: builds the Location header as Envoy's router does. */
export class Redirect {
  constructor(
    readonly status: number,
    private readonly scheme: string | undefined,
    private readonly host: string | undefined,
    /** ":<port>" or "". */
    private readonly port: string,
    private readonly pathRedirect: string | undefined,
    /** A query in path_redirect replaces the request's, and strip_query does not apply to it. */
    private readonly pathRedirectHasQuery: boolean,
    private readonly rewrite: PathRewrite | undefined,
    private readonly stripQuery: boolean,
  ) {}

  location(req: RouteRequest): string {
    const scheme = this.scheme ?? req.scheme;
    const host = this.host ?? requestHost(req.authority, scheme, req.scheme, this.port !== '');
    let target: string;
    if (this.pathRedirectHasQuery) {
      target = this.pathRedirect!;
    } else {
      const path = this.pathRedirect ?? (this.rewrite === undefined ? req.path : this.rewrite.rewrite(req.path));
      target = this.stripQuery || req.query === '' ? path : `${path}?${req.query}`;
    }
    if (!target.startsWith('/')) target = `/${target}`;
    return `${scheme}://${host}${this.port}${target}`;
  }
}

/**
 * The request's host for the Location, dropping its port when a port_redirect replaces it or
 * when it is the default port of a scheme being changed (so http://a:80 → https://a, not https://a:80).
 */
function requestHost(authority: string, newScheme: string, requestScheme: string, newPort: boolean): string {
  let hostEnd: number;
  if (authority.startsWith('[')) {
    const bracket = authority.lastIndexOf(']:');
    hostEnd = bracket === -1 ? -1 : bracket + 1;
  } else {
    hostEnd = authority.lastIndexOf(':');
  }
  if (hostEnd === -1) return authority;
  const defaultPort =
    newScheme !== requestScheme &&
    ((requestScheme === 'https' && authority.endsWith(':443')) || (requestScheme === 'http' && authority.endsWith(':80')));
  return newPort || defaultPort ? authority.slice(0, hostEnd) : authority;
}

export function compileRedirect(
  config: RedirectAction,
  matchedPrefixLength: number | undefined,
  path: string,
  issues: ConfigIssue[],
): Redirect | undefined {
  checkSupportedFields(config, 'RedirectAction', path, issues);
  let valid = true;
  const fail = (message: string, at = path): void => {
    issues.push({ path: at, message });
    valid = false;
  };
  if (presentFields(config, ['https_redirect', 'scheme_redirect']).length > 1) {
    fail('at most one of https_redirect, scheme_redirect may be set');
  }
  if (presentFields(config, ['path_redirect', 'prefix_rewrite', 'regex_rewrite']).length > 1) {
    fail('at most one of path_redirect, prefix_rewrite, regex_rewrite may be set');
  }
  const port = config.port_redirect ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('must be a port number', fieldPath(path, 'port_redirect'));
  const code = config.response_code ?? 'MOVED_PERMANENTLY';
  const status = RESPONSE_CODES[code];
  if (status === undefined) fail(`unknown value ${JSON.stringify(code)}`, fieldPath(path, 'response_code'));
  const rewrite = compilePathRewrite(config, matchedPrefixLength, path, issues);
  if (config.regex_rewrite !== undefined && rewrite === undefined) valid = false;
  if (!valid) return undefined;
  const scheme = config.scheme_redirect ? config.scheme_redirect.toLowerCase() : config.https_redirect ? 'https' : undefined;
  return new Redirect(
    status,
    scheme,
    // Envoy treats empty strings in these fields as unset.
    config.host_redirect || undefined,
    port === 0 ? '' : `:${port}`,
    config.path_redirect || undefined,
    config.path_redirect?.includes('?') === true,
    rewrite,
    config.strip_query === true,
  );
}
