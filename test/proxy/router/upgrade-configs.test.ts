import t from 'tap';
import type { ConfigIssue } from '../../../xds/config-error';
import type { UpgradeConfig } from '../../../proxy/router/route-configuration';
import { compileRouteConfiguration } from '../../../proxy/router/route-table';
import { compileUpgradeConfigs, upgradeEnabled } from '../../../proxy/router/upgrade-configs';

function compile(configs: UpgradeConfig[]) {
  const issues: ConfigIssue[] = [];
  const upgrades = compileUpgradeConfigs(configs, 'upgrade_configs', issues);
  return { upgrades, issues };
}

t.test('types are case-insensitive and enabled by default', async (t) => {
  const { upgrades, issues } = compile([{ upgrade_type: 'WebSocket' }, { upgrade_type: 'spdy/3', enabled: false }]);
  t.same(issues, []);
  t.same([...upgrades], [
    ['websocket', true],
    ['spdy/3', false],
  ]);
});

t.test('rejected as Envoy rejects them: a type twice; and what meshlet does not do', async (t) => {
  const { issues } = compile([{ upgrade_type: 'websocket' }, { upgrade_type: 'WEBSOCKET' }, { upgrade_type: 'CONNECT' }, {}]);
  t.same(
    issues.map((i) => i.path),
    ['upgrade_configs[1].upgrade_type', 'upgrade_configs[2].upgrade_type', 'upgrade_configs[3].upgrade_type'],
  );
  t.match(issues[0]!.message, /multiple upgrade configs with the same name: 'websocket'/);
  t.match(issues[1]!.message, /CONNECT is not supported/);
  const filters = compile([{ upgrade_type: 'websocket', filters: [] } as UpgradeConfig]);
  t.same(filters.issues.map((i) => i.path), ['upgrade_configs[0].filters'], 'custom upgrade filter chains are reported');
});

t.test("Envoy's table: the route's setting wins either way, else the connection manager's, else refused", async (t) => {
  const hcm = (enabled: boolean | undefined) => new Map(enabled === undefined ? [] : [['websocket', enabled]]);
  const route = (enabled: boolean | undefined) => (enabled === undefined ? undefined : new Map([['websocket', enabled]]));
  t.equal(upgradeEnabled('websocket', hcm(true), route(undefined)), true);
  t.equal(upgradeEnabled('websocket', hcm(true), route(false)), false);
  t.equal(upgradeEnabled('websocket', hcm(false), route(true)), true);
  t.equal(upgradeEnabled('websocket', hcm(false), route(undefined)), false);
  t.equal(upgradeEnabled('websocket', hcm(undefined), route(true)), true, 'a route may enable a type the connection manager does not list');
  t.equal(upgradeEnabled('websocket', hcm(undefined), route(undefined)), false);
  t.equal(upgradeEnabled('foo', hcm(true), route(true)), false);
});

t.test('a route carries its upgrade_configs and idle_timeout', async (t) => {
  const table = compileRouteConfiguration(
    {
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            { match: { prefix: '/ws' }, route: { cluster: 'c', upgrade_configs: [{ upgrade_type: 'websocket', enabled: false }], idle_timeout: 1500 } },
            { match: { prefix: '/' }, route: { cluster: 'c' } },
          ],
        },
      ],
    },
    { basePath: 'route_config' },
  );
  const request = (path: string) => ({ method: 'GET', authority: 'x', path, query: '', headers: [], scheme: 'http' as const });
  const ws = table.route(request('/ws'))!;
  t.same([...ws.upgrades!], [['websocket', false]]);
  t.equal(ws.idleTimeoutMs, 1500);
  const other = table.route(request('/other'))!;
  t.equal(other.upgrades, undefined);
  t.equal(other.idleTimeoutMs, undefined);
});
