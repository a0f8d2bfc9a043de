/**
 * The pure parts of the etcd registry: the key layout, the --registry/--prefix flags, a mesh
 * document whose routes name versions that only registrations bring, and the merge of the
 * document with registered endpoints.
 */
import t from 'tap';
import { etcdLocation } from '../../../cli/registry-options';
import { parseMesh } from '../../../xds/control-plane/mesh-parser';
import { buildMeshSnapshots } from '../../../xds/control-plane/mesh-snapshots';
import { classifyKey, endpointKey, prefixProblem } from '../../../xds/control-plane/registry/etcd-keys';
import { ETCD_PARSE_OPTIONS } from '../../../xds/control-plane/registry/etcd-registry';
import { meshWithRegistrations } from '../../../xds/control-plane/registry/registered-endpoints';

t.test('key layout', async (t) => {
  t.equal(endpointKey('/meshlet', 'echo', { address: '10.0.0.1', port: 8080 }), '/meshlet/endpoints/echo/10.0.0.1:8080');
  t.same(classifyKey('/meshlet', '/meshlet/mesh'), { kind: 'mesh' });
  t.same(classifyKey('/meshlet', '/meshlet/endpoints/echo/::1:8080'), { kind: 'endpoint', service: 'echo', id: '::1:8080' });
  for (const key of ['/meshlet/endpoints/echo', '/meshlet/endpoints/echo/', '/meshlet/endpoints/echo/a/b', '/meshlet/mesh/x', '/meshlet/ca/root.pem']) {
    t.same(classifyKey('/meshlet', key), { kind: 'unknown' }, key);
  }
  t.equal(prefixProblem('/meshlet/prod'), undefined);
  for (const bad of ['meshlet', '/meshlet/', '/', '//meshlet', '/mesh let']) t.match(prefixProblem(bad), 'is not a key prefix', bad);
});

t.test('--registry and --prefix', async (t) => {
  t.same(etcdLocation('etcd://10.0.0.1:2379,[::1]:2379,etcd.svc:2379', '/meshlet'), {
    hosts: ['http://10.0.0.1:2379', 'http://[::1]:2379', 'http://etcd.svc:2379'],
    access: {},
    prefix: '/meshlet',
  });
  t.match(etcdLocation('https://10.0.0.1:2379', '/meshlet'), 'is not etcd://HOST:PORT');
  t.match(etcdLocation('etcd://10.0.0.1', '/meshlet'), '"10.0.0.1" is not HOST:PORT');
  t.match(etcdLocation('etcd://10.0.0.1:2379', 'meshlet'), '--prefix: "meshlet" is not a key prefix');
});

const DOCUMENT = {
  services: {
    echo: {
      endpoints: [{ address: '10.0.0.1', port: 80, version: 'v1' }],
      routes: [{ to: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }] }],
    },
  },
  gateways: { edge: { port: 8000, routes: [{ to: { service: 'echo', version: 'v3' } }] } },
};

t.test('a route may name a version only registrations have, in a registry document only', async (t) => {
  t.throws(() => parseMesh(DOCUMENT), { message: /services\.echo\.routes\[0\]\.to\[1\]\.version: service "echo" has no endpoint with version "v2"/ });
  const mesh = parseMesh(DOCUMENT, ETCD_PARSE_OPTIONS);
  const client = buildMeshSnapshots(mesh).get('client')!;
  t.same([...client.resources.CDS.keys()], ['echo', 'echo/v1', 'echo/v2', 'echo/v3'], 'every version a route names has its cluster');
  t.same(client.resources.EDS.get('echo/v2')!.json, { cluster_name: 'echo/v2' }, 'empty until an instance of it registers');
  t.throws(() => parseMesh({ services: { echo: { routes: [{ to: { service: 'nope', version: 'v1' } }] } } }, ETCD_PARSE_OPTIONS), { message: /unknown service "nope"/ });
});

t.test('registered endpoints follow the static ones in key order; unusable keys are left out with why', async (t) => {
  const document = parseMesh(DOCUMENT, ETCD_PARSE_OPTIONS);
  const entries = new Map([
    ['/m/mesh', 'ignored here: the document is parsed by the registry'],
    ['/m/endpoints/echo/10.0.0.3:80', JSON.stringify({ address: '10.0.0.3', port: 80, version: 'v2', priority: 1 })],
    ['/m/endpoints/echo/10.0.0.2:80', JSON.stringify({ address: '10.0.0.2', port: 80 })],
    ['/m/endpoints/echo/10.0.0.4:80', JSON.stringify({ address: '10.0.0.4', port: 80, weight: 'heavy', tier: 1 })],
    ['/m/endpoints/echo/10.0.0.5:80', '[1]'],
  ]);
  const { mesh, ignored } = meshWithRegistrations(document, entries, '/m');
  t.same(
    mesh.services[0]!.endpoints.map((e) => [e.address, e.version, e.priority]),
    [['10.0.0.1', 'v1', 0], ['10.0.0.2', undefined, 0], ['10.0.0.3', 'v2', 1]],
  );
  t.same(Object.fromEntries(ignored), {
    '/m/endpoints/echo/10.0.0.4:80': 'tier: unknown field "tier" (expected one of: address, port, weight, priority, version, region, zone); weight: expected an integer from 1 to 1000000, got "heavy"',
    '/m/endpoints/echo/10.0.0.5:80': 'value: expected an endpoint (an object), got array',
  });
  t.equal(mesh.gateways, document.gateways, 'the rest of the document is as it was');
});
