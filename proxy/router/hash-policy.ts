import type { ConfigIssue } from '../../xds/config-error';
import { nextHeaderIndex } from './flat-headers';
import { compileRegexSubstitution, type RegexSubstitution } from './re2';
import type { HashPolicy as HashPolicyConfig } from './route-configuration';
import {
  isPseudoHeader,
  pseudoHeaderValue,
  queryParameterValue,
  type HeaderContext,
  type PseudoHeader,
  type RouteRequest,
} from './route-request';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

/**
 * Joins the inputs of several hash methods (or several values of one header) into one key.
 * NUL cannot occur in header values, addresses or query strings, so keys cannot collide by
 * concatenation.
 */
const SEPARATOR = '\0';

interface HashMethod {
  readonly terminal: boolean;
  key(req: RouteRequest, ctx: HeaderContext): string | undefined;
}

class HeaderHash implements HashMethod {
  constructor(
    readonly terminal: boolean,
    private readonly name: string,
    private readonly pseudo: boolean,
    private readonly rewrite: RegexSubstitution | undefined,
  ) {}

  key(req: RouteRequest): string | undefined {
    if (this.pseudo) return this.rewritten(pseudoHeaderValue(req, this.name as PseudoHeader));
    const headers = req.headers;
    const first = nextHeaderIndex(headers, this.name);
    if (first === -1) return undefined;
    let next = nextHeaderIndex(headers, this.name, first + 2);
    if (next === -1) return this.rewritten(headers[first + 1]!);
    // Envoy hashes every value, sorted so that their order does not change the host.
    const values = [this.rewritten(headers[first + 1]!)];
    for (; next !== -1; next = nextHeaderIndex(headers, this.name, next + 2)) {
      values.push(this.rewritten(headers[next + 1]!));
    }
    return values.sort().join(SEPARATOR);
  }

  private rewritten(value: string): string {
    return this.rewrite === undefined ? value : this.rewrite.replaceAll(value);
  }
}

class CookieHash implements HashMethod {
  constructor(
    readonly terminal: boolean,
    private readonly name: string,
  ) {}

  /** Envoy's cookie parsing: the first `name=value` across all cookie headers; empty means none. */
  key(req: RouteRequest): string | undefined {
    const headers = req.headers;
    const name = this.name;
    for (let h = nextHeaderIndex(headers, 'cookie'); h !== -1; h = nextHeaderIndex(headers, 'cookie', h + 2)) {
      const cookies = headers[h + 1]!;
      for (let start = 0; start < cookies.length; ) {
        let end = cookies.indexOf(';', start);
        if (end === -1) end = cookies.length;
        while (cookies.charCodeAt(start) === 32 /* space */) start++;
        const valueStart = start + name.length + 1;
        if (cookies.startsWith(name, start) && cookies.charCodeAt(valueStart - 1) === 61 /* = */ && valueStart <= end) {
          let value = cookies.slice(valueStart, end);
          if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
          return value === '' ? undefined : value;
        }
        start = end + 1;
      }
    }
    return undefined;
  }
}

class SourceIpHash implements HashMethod {
  constructor(readonly terminal: boolean) {}
  key(_req: RouteRequest, ctx: HeaderContext): string | undefined {
    return ctx.downstreamRemoteAddress === '' ? undefined : ctx.downstreamRemoteAddress;
  }
}

class QueryParameterHash implements HashMethod {
  constructor(
    readonly terminal: boolean,
    private readonly name: string,
  ) {}
  key(req: RouteRequest): string | undefined {
    return queryParameterValue(req.query, this.name);
  }
}

/** A route's hash_policy list, evaluated to the string the load balancer hashes. */
export class HashPolicy {
  constructor(private readonly methods: readonly HashMethod[]) {}

  key(req: RouteRequest, ctx: HeaderContext): string | undefined {
    let key: string | undefined;
    for (const method of this.methods) {
      const part = method.key(req, ctx);
      if (part !== undefined) key = key === undefined ? part : key + SEPARATOR + part;
      // A terminal policy that produced a key ends the evaluation, as in Envoy.
      if (method.terminal && key !== undefined) break;
    }
    return key;
  }
}

const POLICY_SPECIFIERS = ['header', 'cookie', 'connection_properties', 'query_parameter', 'filter_state'] as const;

export function compileHashPolicy(
  policies: readonly HashPolicyConfig[],
  path: string,
  issues: ConfigIssue[],
): HashPolicy | undefined {
  const methods: HashMethod[] = [];
  policies.forEach((policy, i) => {
    const method = compileHashMethod(policy, `${path}[${i}]`, issues);
    if (method) methods.push(method);
  });
  return methods.length === 0 ? undefined : new HashPolicy(methods);
}

function compileHashMethod(policy: HashPolicyConfig, path: string, issues: ConfigIssue[]): HashMethod | undefined {
  checkSupportedFields(policy, 'HashPolicy', path, issues);
  const specifiers = presentFields(policy, POLICY_SPECIFIERS);
  if (specifiers.length !== 1) {
    issues.push({ path, message: `exactly one of ${POLICY_SPECIFIERS.join(', ')} is required` });
    return undefined;
  }
  const terminal = policy.terminal === true;
  const at = fieldPath(path, specifiers[0]!);
  switch (specifiers[0]!) {
    case 'header': {
      const header = policy.header!;
      checkSupportedFields(header, 'HashPolicyHeader', at, issues);
      const name = requiredName(header.header_name, fieldPath(at, 'header_name'), issues);
      const rewrite =
        header.regex_rewrite && compileRegexSubstitution(header.regex_rewrite, fieldPath(at, 'regex_rewrite'), issues);
      if (name === undefined || (rewrite === undefined && header.regex_rewrite !== undefined)) return undefined;
      const lower = name.toLowerCase();
      return new HeaderHash(terminal, lower, isPseudoHeader(lower), rewrite);
    }
    case 'cookie': {
      checkSupportedFields(policy.cookie!, 'HashPolicyCookie', at, issues);
      const name = requiredName(policy.cookie!.name, fieldPath(at, 'name'), issues);
      return name === undefined ? undefined : new CookieHash(terminal, name);
    }
    case 'connection_properties':
      checkSupportedFields(policy.connection_properties!, 'HashPolicyConnectionProperties', at, issues);
      // Envoy adds no method when source_ip is false.
      return policy.connection_properties!.source_ip === true ? new SourceIpHash(terminal) : undefined;
    case 'query_parameter': {
      checkSupportedFields(policy.query_parameter!, 'HashPolicyQueryParameter', at, issues);
      const name = requiredName(policy.query_parameter!.name, fieldPath(at, 'name'), issues);
      return name === undefined ? undefined : new QueryParameterHash(terminal, name);
    }
    case 'filter_state':
      // Reported as unsupported above.
      return undefined;
  }
}

function requiredName(name: string | undefined, path: string, issues: ConfigIssue[]): string | undefined {
  if (!name) issues.push({ path, message: 'is required' });
  return name || undefined;
}
