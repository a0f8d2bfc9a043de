import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from '../config/field-support';
import { compileHeaderMatcher } from '../router/header-matcher';
import type { HeaderMatcher } from '../router/route-configuration';
import type { RouteRequest } from '../router/route-request';
import { presentFields } from '../router/supported-fields';
import type { PeerIdentity } from '../tls/peer-identity';

/** What RBAC reads from a request and the connection it came on. */
export interface RbacRequest extends RouteRequest {
  /** The verified client certificate; undefined on plaintext or when the client sent none. */
  readonly peer: PeerIdentity | undefined;
  /** The downstream connection's peer IP (direct_remote_ip). */
  readonly remoteAddress: string;
  /** The trusted original client IP (remote_ip). */
  readonly clientAddress: string;
  /** The port the request arrived on (destination_port). */
  readonly localPort: number;
}

/** A compiled Permission or Principal. */
export type RbacMatcher = (request: RbacRequest) => boolean;

export const ANY: RbacMatcher = () => true;

export function allOf(matchers: readonly RbacMatcher[]): RbacMatcher {
  return (request) => matchers.every((matches) => matches(request));
}

export function anyOf(matchers: readonly RbacMatcher[]): RbacMatcher {
  return (request) => matchers.some((matches) => matches(request));
}

export function not(matcher: RbacMatcher): RbacMatcher {
  return (request) => !matcher(request);
}

/**
 * The member of a Permission's or Principal's oneof that is set, or undefined (reported) when it
 * is one meshlet does not implement or when not exactly one is set.
 */
export function selectRule<F extends string>(
  config: object,
  supported: readonly F[],
  path: string,
  issues: ConfigIssue[],
): F | undefined {
  const before = issues.length;
  onlyFields(config, path, supported, issues);
  if (issues.length > before) return undefined;
  const present = presentFields(config, supported);
  if (present.length !== 1) {
    issues.push({ path, message: `exactly one of ${supported.join(', ')} is required` });
    return undefined;
  }
  return present[0];
}

/** Compiles a repeated Permission or Principal field, which Envoy requires to be non-empty. */
export function compileEach<T>(
  configs: readonly T[] | undefined,
  path: string,
  issues: ConfigIssue[],
  compile: (config: T, path: string, issues: ConfigIssue[]) => RbacMatcher | undefined,
): RbacMatcher[] | undefined {
  if (configs === undefined || configs.length === 0) {
    issues.push({ path, message: 'must have at least one entry' });
    return undefined;
  }
  const matchers = configs.map((config, i) => compile(config, `${path}[${i}]`, issues));
  return matchers.every((m) => m !== undefined) ? matchers : undefined;
}

/** A `header` Permission or Principal: Envoy's route HeaderMatcher, pseudo-headers included. */
export function compileHeaderRule(config: HeaderMatcher, path: string, issues: ConfigIssue[]): RbacMatcher | undefined {
  const header = compileHeaderMatcher(config, path, issues);
  return header && ((request) => header.matches(request));
}
