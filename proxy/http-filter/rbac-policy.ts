/**
 * Envoy's RBAC HTTP filter (`envoy.filters.http.rbac`,
 * `type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC`), compiled once.
 *
 * The subset meshlet implements; any other field is reported at its path:
 * - filter: `rules`, `shadow_rules`, `rules_stat_prefix`
 * - rules: `action` (ALLOW, DENY, LOG), `policies` (name → `permissions`, `principals`)
 * - permissions: `any`, `header`, `url_path` (`path`), `and_rules`, `or_rules`, `not_rule`,
 *   `destination_port`, `destination_port_range`
 * - principals: `any`, `authenticated` (`principal_name`), `header`, `direct_remote_ip`,
 *   `remote_ip`, `and_ids`, `or_ids`, `not_id`
 */
import type { ConfigIssue } from '../../xds/config-error';
import { pathKey } from '../../xds/proto-schema';
import { onlyFields } from '../config/field-support';
import { fieldPath } from '../router/supported-fields';
import { anyOf, compileEach, type RbacMatcher, type RbacRequest } from './rbac-matcher';
import { compilePermission, type PermissionConfig } from './rbac-permission';
import { compilePrincipal, type PrincipalConfig } from './rbac-principal';

export type { RbacRequest } from './rbac-matcher';

export interface RbacDecision {
  readonly allowed: boolean;
  /** The policy that matched (ALLOW: the one that allowed; DENY: the one that denied; LOG: the one logged), if any. */
  readonly policy: string | undefined;
}

export interface RbacFilter {
  /** The filter's `rules_stat_prefix` ('' by default), for its allowed/denied counters. */
  readonly statPrefix: string;
  /** The enforced `rules`; without them every request is allowed, as in Envoy. */
  evaluate(request: RbacRequest): RbacDecision;
  /** The `shadow_rules`: evaluated and counted, never enforced; undefined when there are none. */
  evaluateShadow(request: RbacRequest): RbacDecision | undefined;
}

type Action = 'ALLOW' | 'DENY' | 'LOG';

interface PolicyConfig {
  readonly permissions?: readonly PermissionConfig[];
  readonly principals?: readonly PrincipalConfig[];
}

interface RulesConfig {
  readonly action?: Action;
  readonly policies?: Readonly<Record<string, PolicyConfig>>;
}

interface Policy {
  readonly permissions: RbacMatcher;
  readonly principals: RbacMatcher;
  /** What the rules decide when this is the first policy to match. */
  readonly decision: RbacDecision;
}

const ALLOWED: RbacDecision = Object.freeze({ allowed: true, policy: undefined });
const DENIED: RbacDecision = Object.freeze({ allowed: false, policy: undefined });

/** One compiled envoy.config.rbac.v3.RBAC. */
class RbacRules {
  constructor(
    /** In Envoy's order (a std::map: by name, bytewise), so the reported policy is the same. */
    private readonly policies: readonly Policy[],
    private readonly noMatch: RbacDecision,
  ) {}

  evaluate(request: RbacRequest): RbacDecision {
    for (const policy of this.policies) {
      if (policy.permissions(request) && policy.principals(request)) return policy.decision;
    }
    return this.noMatch;
  }
}

class CompiledRbacFilter implements RbacFilter {
  constructor(
    readonly statPrefix: string,
    private readonly rules: RbacRules | undefined,
    private readonly shadowRules: RbacRules | undefined,
  ) {}

  evaluate(request: RbacRequest): RbacDecision {
    return this.rules === undefined ? ALLOWED : this.rules.evaluate(request);
  }

  evaluateShadow(request: RbacRequest): RbacDecision | undefined {
    return this.shadowRules?.evaluate(request);
  }
}

/**
 * Compiles a decoded RBAC filter config (xds/proto-json.ts's normalized form). Returns undefined
 * when there were issues.
 */
export function compileRbacFilter(config: any, path: string, issues: ConfigIssue[]): RbacFilter | undefined {
  const before = issues.length;
  onlyFields(config, path, ['rules', 'shadow_rules', 'rules_stat_prefix'], issues);
  const rules = config.rules && compileRules(config.rules, fieldPath(path, 'rules'), issues);
  const shadowRules = config.shadow_rules && compileRules(config.shadow_rules, fieldPath(path, 'shadow_rules'), issues);
  if (issues.length > before) return undefined;
  return new CompiledRbacFilter(config.rules_stat_prefix ?? '', rules, shadowRules);
}

function compileRules(config: RulesConfig, path: string, issues: ConfigIssue[]): RbacRules | undefined {
  onlyFields(config, path, ['action', 'policies'], issues);
  const action = config.action ?? 'ALLOW';
  const names = Object.keys(config.policies ?? {}).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const policies: Policy[] = [];
  for (const name of names) {
    const policyPath = pathKey(fieldPath(path, 'policies'), name);
    const policy = compilePolicy(config.policies![name]!, policyPath, issues);
    if (policy !== undefined) {
      policies.push({ ...policy, decision: Object.freeze({ allowed: action !== 'DENY', policy: name }) });
    }
  }
  // An ALLOW list that nothing matches denies, so present-but-empty ALLOW rules deny everything.
  return new RbacRules(policies, action === 'ALLOW' ? DENIED : ALLOWED);
}

function compilePolicy(config: PolicyConfig, path: string, issues: ConfigIssue[]): Omit<Policy, 'decision'> | undefined {
  const before = issues.length;
  onlyFields(config, path, ['permissions', 'principals'], issues);
  const permissions = compileEach(config.permissions, fieldPath(path, 'permissions'), issues, compilePermission);
  const principals = compileEach(config.principals, fieldPath(path, 'principals'), issues, compilePrincipal);
  if (issues.length > before || !permissions || !principals) return undefined;
  return { permissions: anyOf(permissions), principals: anyOf(principals) };
}
