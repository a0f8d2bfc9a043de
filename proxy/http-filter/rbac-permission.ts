import type { ConfigIssue } from '../../xds/config-error';
import type { HeaderMatcher, StringMatcher } from '../router/route-configuration';
import { compileStringMatcher } from '../router/string-matcher';
import { fieldPath } from '../router/supported-fields';
import { allOf, ANY, anyOf, compileEach, compileHeaderRule, not, selectRule, type RbacMatcher } from './rbac-matcher';

/** envoy.config.rbac.v3.Permission, decoded: the members meshlet implements. */
export interface PermissionConfig {
  readonly and_rules?: { readonly rules?: readonly PermissionConfig[] };
  readonly or_rules?: { readonly rules?: readonly PermissionConfig[] };
  readonly any?: boolean;
  readonly header?: HeaderMatcher;
  /** envoy.type.matcher.v3.PathMatcher */
  readonly url_path?: { readonly path?: StringMatcher };
  readonly not_rule?: PermissionConfig;
  readonly destination_port?: number;
  /** envoy.type.v3.Int32Range: half-open [start, end). */
  readonly destination_port_range?: { readonly start?: number; readonly end?: number };
}

const RULES = [
  'and_rules',
  'or_rules',
  'any',
  'header',
  'url_path',
  'not_rule',
  'destination_port',
  'destination_port_range',
] as const;

export function compilePermission(config: PermissionConfig, path: string, issues: ConfigIssue[]): RbacMatcher | undefined {
  const rule = selectRule(config, RULES, path, issues);
  if (rule === undefined) return undefined;
  const rulePath = fieldPath(path, rule);
  switch (rule) {
    case 'any':
      return ANY;
    case 'and_rules':
    case 'or_rules': {
      const rules = compileEach(config[rule]!.rules, fieldPath(rulePath, 'rules'), issues, compilePermission);
      return rules && (rule === 'and_rules' ? allOf(rules) : anyOf(rules));
    }
    case 'not_rule': {
      const negated = compilePermission(config.not_rule!, rulePath, issues);
      return negated && not(negated);
    }
    case 'header':
      return compileHeaderRule(config.header!, rulePath, issues);
    case 'url_path': {
      const pathConfig = config.url_path!.path;
      if (pathConfig === undefined) {
        issues.push({ path: fieldPath(rulePath, 'path'), message: 'is required' });
        return undefined;
      }
      // Matches the path without the query, as Envoy's PathMatcher does.
      const urlPath = compileStringMatcher(pathConfig, fieldPath(rulePath, 'path'), issues);
      return urlPath && ((request) => urlPath.matches(request.path));
    }
    case 'destination_port': {
      const port = config.destination_port!;
      return (request) => request.localPort === port;
    }
    case 'destination_port_range':
      return compilePortRange(config.destination_port_range!, rulePath, issues);
  }
}

/** Envoy refuses a range outside [0, 65536] or an empty one, rather than never matching. */
function compilePortRange(
  range: NonNullable<PermissionConfig['destination_port_range']>,
  path: string,
  issues: ConfigIssue[],
): RbacMatcher | undefined {
  const start = range.start ?? 0;
  const end = range.end ?? 0;
  const before = issues.length;
  if (start < 0 || start > 65536) issues.push({ path: fieldPath(path, 'start'), message: `${start} is not a port` });
  if (end < 0 || end > 65536) issues.push({ path: fieldPath(path, 'end'), message: `${end} is not a port` });
  if (issues.length === before && start >= end) issues.push({ path, message: `start ${start} must be less than end ${end}` });
  if (issues.length > before) return undefined;
  return (request) => request.localPort >= start && request.localPort < end;
}
