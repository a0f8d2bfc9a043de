import type { ConfigIssue } from '../../xds/config-error';
import type { HeaderMatcher, StringMatcher } from '../router/route-configuration';
import { compileStringMatcher, type ValueMatcher } from '../router/string-matcher';
import { fieldPath } from '../router/supported-fields';
import type { PeerIdentity } from '../tls/peer-identity';
import { compileCidrRange, type CidrRangeConfig } from './cidr-range';
import { allOf, ANY, anyOf, compileEach, compileHeaderRule, not, selectRule, type RbacMatcher } from './rbac-matcher';

/** envoy.config.rbac.v3.Principal, decoded: the members meshlet implements. */
export interface PrincipalConfig {
  readonly and_ids?: { readonly ids?: readonly PrincipalConfig[] };
  readonly or_ids?: { readonly ids?: readonly PrincipalConfig[] };
  readonly any?: boolean;
  readonly authenticated?: { readonly principal_name?: StringMatcher };
  readonly direct_remote_ip?: CidrRangeConfig;
  readonly remote_ip?: CidrRangeConfig;
  readonly header?: HeaderMatcher;
  readonly not_id?: PrincipalConfig;
}

const IDENTIFIERS = [
  'and_ids',
  'or_ids',
  'any',
  'authenticated',
  'direct_remote_ip',
  'remote_ip',
  'header',
  'not_id',
] as const;

export function compilePrincipal(config: PrincipalConfig, path: string, issues: ConfigIssue[]): RbacMatcher | undefined {
  const identifier = selectRule(config, IDENTIFIERS, path, issues);
  if (identifier === undefined) return undefined;
  const idPath = fieldPath(path, identifier);
  switch (identifier) {
    case 'any':
      return ANY;
    case 'and_ids':
    case 'or_ids': {
      const ids = compileEach(config[identifier]!.ids, fieldPath(idPath, 'ids'), issues, compilePrincipal);
      return ids && (identifier === 'and_ids' ? allOf(ids) : anyOf(ids));
    }
    case 'not_id': {
      const negated = compilePrincipal(config.not_id!, idPath, issues);
      return negated && not(negated);
    }
    case 'authenticated': {
      const principalName = config.authenticated!.principal_name;
      // Without a principal_name, any peer that presented a verified certificate.
      if (principalName === undefined) return (request) => request.peer !== undefined;
      const name = compileStringMatcher(principalName, fieldPath(idPath, 'principal_name'), issues);
      return name && ((request) => request.peer !== undefined && authenticatedAs(request.peer, name));
    }
    case 'direct_remote_ip': {
      const inRange = compileCidrRange(config.direct_remote_ip!, idPath, issues);
      return inRange && ((request) => inRange(request.remoteAddress));
    }
    case 'remote_ip': {
      const inRange = compileCidrRange(config.remote_ip!, idPath, issues);
      return inRange && ((request) => inRange(request.clientAddress));
    }
    case 'header':
      return compileHeaderRule(config.header!, idPath, issues);
  }
}

/** Envoy's AuthenticatedMatcher tries every URI SAN, then every DNS SAN, then the subject. */
function authenticatedAs(peer: PeerIdentity, name: ValueMatcher): boolean {
  return peer.uriSans.some((san) => name.matches(san)) || peer.dnsSans.some((san) => name.matches(san)) || name.matches(peer.subject);
}
