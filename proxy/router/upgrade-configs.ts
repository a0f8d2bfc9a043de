import type { ConfigIssue } from '../../xds/config-error';
import type { UpgradeConfig } from './route-configuration';
import { checkSupportedFields, fieldPath } from './supported-fields';

/**
 * `upgrade_configs` → upgrade type (lowercase: Envoy compares them case-insensitively) → enabled.
 * Envoy rejects a type listed twice. CONNECT is Envoy's special type for proxying CONNECT, which
 * meshlet does not do.
 */
export function compileUpgradeConfigs(configs: readonly UpgradeConfig[], path: string, issues: ConfigIssue[]): ReadonlyMap<string, boolean> {
  const upgrades = new Map<string, boolean>();
  configs.forEach((config, i) => {
    const at = `${path}[${i}]`;
    checkSupportedFields(config, 'UpgradeConfig', at, issues);
    const type = config.upgrade_type?.toLowerCase() ?? '';
    if (type === '') issues.push({ path: fieldPath(at, 'upgrade_type'), message: 'is required' });
    else if (type === 'connect') issues.push({ path: fieldPath(at, 'upgrade_type'), message: 'CONNECT is not supported by meshlet' });
    else if (upgrades.has(type)) issues.push({ path: fieldPath(at, 'upgrade_type'), message: `multiple upgrade configs with the same name: '${type}'` });
    else upgrades.set(type, config.enabled ?? true);
  });
  return upgrades;
}

/**
 * Whether an Upgrade request of `type` (lowercase) may go upstream, as Envoy's
 * createUpgradeFilterChain decides: the route's setting wins either way; without one, the
 * connection manager's; a type neither lists is refused.
 */
export function upgradeEnabled(type: string, connectionManager: ReadonlyMap<string, boolean>, route: ReadonlyMap<string, boolean> | undefined): boolean {
  return route?.get(type) ?? connectionManager.get(type) ?? false;
}
