import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { otherCores, summarizeChanges, summarizeTimes, ticksBetween } from '../../bench/control-plane-scale/convergence';
import { registrationMove, scaleRegistrations } from '../../bench/control-plane-scale/etcd-registrations';
import { registrationEntry } from '../../xds/control-plane/registry/etcd-registration';
import { parseWithInfinity, stringifyWithInfinity } from '../../bench/control-plane-scale/json';
import {
  endpointAddress,
  ISSUE_8_MESH,
  isRoutedService,
  meshShape,
  plannedMoves,
  scaleEndpoint,
  scaleMeshYaml,
  serviceName,
  type EndpointMove,
  type ScaleMeshOptions,
} from '../../bench/control-plane-scale/mesh-generator';
import { assignmentHasPort, routeNamesOfListener } from '../../bench/control-plane-scale/resource-checks';
import { renderScaleMarkdown, resultBaseName } from '../../bench/control-plane-scale/scale-markdown';
import { DEFAULT_SCALE_OPTIONS, parseScaleArgs } from '../../bench/control-plane-scale/scale-options';
import { rebuildDelays, reloadTimes, summarizeScale, type ScaleResult } from '../../bench/control-plane-scale/scale-summary';
import type { WorkerResult } from '../../bench/control-plane-scale/scale-types';
import { CLUSTER_TYPE_EDS, wireSummary } from '../../bench/control-plane-scale/wire-fields';
import { etcdArgs } from '../../bench/etcd-process';
import type { MeshConfig } from '../../xds/control-plane/mesh-config';
import { parseMeshText } from '../../xds/control-plane/mesh-file';
import { parseMesh } from '../../xds/control-plane/mesh-parser';
import { classifyKey, meshKey } from '../../xds/control-plane/registry/etcd-keys';
import { ETCD_PARSE_OPTIONS } from '../../xds/control-plane/registry/etcd-registry';
import { meshWithRegistrations } from '../../xds/control-plane/registry/registered-endpoints';
import { buildMeshSnapshots } from '../../xds/control-plane/mesh-snapshots';
import { encodeJson } from '../../xds/proto-encode';

const SMALL: ScaleMeshOptions = { services: 12, endpointsPerService: 5, routedEvery: 5 };

t.test('the issue-8 mesh passes the control plane mesh parser', async (t) => {
  const mesh = parseMesh(parseYaml(scaleMeshYaml(ISSUE_8_MESH), { uniqueKeys: true }));
  t.equal(mesh.services.length, 1000);
  t.ok(mesh.services.every((s) => s.endpoints.length === 5));
  const addresses = new Set(mesh.services.flatMap((s) => s.endpoints.map((e) => e.address)));
  t.equal(addresses.size, 5000, 'every endpoint has its own address');
  t.ok([...addresses].every((a) => /^127\.0\.\d+\.\d+$/.test(a)), '127.0.x.y');
  t.equal(mesh.services.filter((s) => s.routes.length > 1).length, 10, 'a few services have routes');
});

t.test('a small generated mesh builds and validates every role snapshot, with the clusters meshShape counts', async (t) => {
  const mesh = parseMesh(parseYaml(scaleMeshYaml(SMALL)));
  const snapshots = buildMeshSnapshots(mesh);
  const sidecar = snapshots.get(`sidecar:${serviceName(1, SMALL)}`);
  t.ok(sidecar);
  t.equal(sidecar?.resources.CDS.size, meshShape(SMALL).clusters);
  t.equal(sidecar?.resources.EDS.size, meshShape(SMALL).clusters);
  t.same(meshShape(SMALL), { routedServices: 3, clusters: 18, endpoints: 60 });
});

t.test('names and addresses', async (t) => {
  t.equal(serviceName(7, ISSUE_8_MESH), 'svc-007');
  t.equal(serviceName(7, { ...ISSUE_8_MESH, services: 10 }), 'svc-7');
  t.equal(endpointAddress(0, 0, ISSUE_8_MESH), '127.0.0.1', 'never 127.0.0.0');
  t.equal(endpointAddress(999, 4, ISSUE_8_MESH), '127.0.19.136', '5000 = 19 × 256 + 136');
  t.equal(endpointAddress(0, 0, { services: 1, endpointsPerService: 70_000, routedEvery: 0 }), '127.0.0.1');
  t.equal(endpointAddress(0, 65_535, { services: 1, endpointsPerService: 70_000, routedEvery: 0 }), '127.1.0.0', 'past 127.0.255.255');
  t.ok(isRoutedService(0, ISSUE_8_MESH) && isRoutedService(100, ISSUE_8_MESH) && !isRoutedService(7, ISSUE_8_MESH));
});

t.test('planned edits: distinct unrouted services, each moving one endpoint to a fresh port', async (t) => {
  const moves = plannedMoves(ISSUE_8_MESH, 5);
  t.equal(new Set(moves.map((m) => m.serviceIndex)).size, 5);
  t.ok(moves.every((m) => !isRoutedService(m.serviceIndex, ISSUE_8_MESH)));
  t.equal(new Set(moves.map((m) => m.port)).size, 5);
  t.throws(() => plannedMoves({ services: 3, endpointsPerService: 1, routedEvery: 1 }, 1), /fit/);

  const before = parseMesh(parseYaml(scaleMeshYaml(SMALL)));
  const smallMoves = plannedMoves(SMALL, 2);
  const after = parseMesh(parseYaml(scaleMeshYaml(SMALL, smallMoves)));
  const changed = before.services.flatMap((s, i) => s.endpoints.flatMap((e, j) => (e.port === after.services[i].endpoints[j].port ? [] : [`${s.name}/${j}`])));
  t.same(changed.sort(), smallMoves.map((m) => `${serviceName(m.serviceIndex, SMALL)}/0`).sort(), 'exactly the moved endpoints differ');
  t.equal(after.services[smallMoves[1].serviceIndex].endpoints[0].port, smallMoves[1].port);
  t.equal(scaleMeshYaml(SMALL, smallMoves), scaleMeshYaml(SMALL, smallMoves), 'deterministic');
});

t.test('wireSummary reads name and cluster type off the wire', async (t) => {
  const cluster = encodeJson('envoy.config.cluster.v3.Cluster', { name: 'svc-001', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
  t.same(wireSummary(cluster), { name: 'svc-001', field2: CLUSTER_TYPE_EDS });
  const assignment = encodeJson('envoy.config.endpoint.v3.ClusterLoadAssignment', {
    cluster_name: 'svc-002',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }],
  });
  t.same(wireSummary(assignment), { name: 'svc-002' });
  t.throws(() => wireSummary(Uint8Array.of(0x0a, 0x05, 0x61)), 'a truncated name is an error, not a short name');
});

t.test('resource checks', async (t) => {
  const listener = { filter_chains: [{ filters: [{ typed_config: { rds: { route_config_name: 'outbound' } } }] }, { filters: [{ typed_config: { rds: { route_config_name: 'outbound' } } }] }] };
  t.same(routeNamesOfListener(listener), ['outbound']);
  t.same(routeNamesOfListener({}), []);
  const cla = { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { port_value: 30001 } } } }] }] };
  t.ok(assignmentHasPort(cla, 30001));
  t.notOk(assignmentHasPort(cla, 8080));
  t.notOk(assignmentHasPort({ cluster_name: 'x' }, 8080));
});

t.test('time summaries count clients that never arrived as slower than all', async (t) => {
  const all = summarizeTimes(Array.from({ length: 100 }, (_, i) => i + 1));
  t.same(all, { clients: 100, missing: 0, minMs: 1, p50Ms: 50, p90Ms: 90, p99Ms: 99, maxMs: 100 });
  const twoMissing = summarizeTimes([...Array.from({ length: 98 }, (_, i) => i + 1), null, null]);
  t.equal(twoMissing.missing, 2);
  t.equal(twoMissing.p99Ms, Number.POSITIVE_INFINITY, 'p99 cannot hide 2 % missing');
  t.equal(twoMissing.p50Ms, 50);
  t.ok(Number.isNaN(summarizeTimes([]).p50Ms));
});

t.test('change summaries: CPU per edit from ticks, per client, share of a core', async (t) => {
  const change = (ticks: number, wallMs: number) => ({ service: 's', cluster: 's', port: 1, convergenceMs: [100, 200, null, 300], cpu: { cpuTicks: ticks, wallMs } });
  const s = summarizeChanges([change(50, 1000), change(150, 1000), change(100, 2000)], 100);
  t.equal(s.cpuMsPerUpdateMedian, 1000, 'median of 500, 1500, 1000 ms');
  t.equal(s.coreFraction, 3000 / 4000);
  t.equal(s.pooled.clients, 12);
  t.equal(s.pooled.missing, 3);
  t.same(s.perChange[0], { service: 's', convergence: summarizeTimes([100, 200, null, 300]), cpuMs: 500, coreFraction: 0.5 });
  t.equal(otherCores({ wallMs: 1000, core0Busy: 1, core1Busy: 0.5, controlPlaneCpuMs: 800, workerCpuMs: 400 }), 0.3);
  t.equal(otherCores({ wallMs: 1000, core0Busy: 0.1, core1Busy: 0, controlPlaneCpuMs: 800, workerCpuMs: 0 }), 0, 'tick rounding never goes negative');
});

t.test('rebuild times from the control plane log', async (t) => {
  const log = [
    '{"level":30,"time":1000,"msg":"control plane serving ADS"}',
    '{"level":30,"time":5000,"msg":"mesh file reloaded"}',
    'not json',
    '{"level":30,"time":9000,"msg":"mesh reloaded"}',
  ].join('\n');
  t.same(reloadTimes(log), [5000, 9000], 'both spellings of the message');
  const origins = [
    '{"level":30,"time":5000,"file":"/tmp/mesh.yaml","msg":"mesh reloaded"}',
    '{"level":30,"time":6000,"registry":"etcd://127.0.0.1:2379","key":"/meshlet/mesh","msg":"mesh reloaded"}',
    '{"level":30,"time":7000,"registry":"etcd://127.0.0.1:2379","key":"/other/mesh","msg":"mesh reloaded"}',
  ].join('\n');
  t.same(reloadTimes(origins, { file: '/tmp/mesh.yaml' }), [5000], "the file mode's rebuilds");
  t.same(reloadTimes(origins, { registry: 'etcd://127.0.0.1:2379', key: '/meshlet/mesh' }), [6000], "the etcd mode's rebuilds");
  t.same(reloadTimes(origins), [5000, 6000, 7000], 'without an origin, every one');
  t.same(rebuildDelays([4000.5, 8000, 12000], [5000, 9000]), [999.5, 1000, null]);
  t.same(rebuildDelays([5000.6], [5000]), [0], 'whole-millisecond log times');
  t.same(rebuildDelays([1000, 2000], [3000]), [null, 1000], 'a reload after the next write belongs to the next write');
});

t.test('options', async (t) => {
  t.same(parseScaleArgs([], '/out'), { kind: 'run', options: { ...DEFAULT_SCALE_OPTIONS, out: '/out' } });
  t.equal(DEFAULT_SCALE_OPTIONS.registry, 'file');
  t.match(parseScaleArgs(['--registry', 'etcd', '--delta'], '/out'), { kind: 'run', options: { registry: 'etcd', flavor: 'delta' } });
  t.match(parseScaleArgs(['--registry', 'file'], '/out'), { kind: 'run', options: { registry: 'file' } });
  t.match(parseScaleArgs(['--registry', 'consul'], '/out'), { kind: 'error', message: /--registry must be one of file, etcd/ });
  t.match(parseScaleArgs(['--registry'], '/out'), { kind: 'error' });
  t.match(parseScaleArgs(['--delta', '--clients', '20', '--budget', '1m'], '/out'), { kind: 'run', options: { flavor: 'delta', clients: 20, budgetSec: 60 } });
  t.match(parseScaleArgs(['--clients', '0'], '/out'), { kind: 'error' });
  t.match(parseScaleArgs(['--budget', '5s'], '/out'), { kind: 'error' });
  t.match(parseScaleArgs(['--nope'], '/out'), { kind: 'error' });
  t.same(parseScaleArgs(['--help'], '/out'), { kind: 'help' });
});

t.test('results survive JSON with missing clients and +Inf buckets, and render', async (t) => {
  const worker: WorkerResult = {
    flavor: 'sotw',
    clients: 2,
    initial: { readyMs: [10, 20], cpu: { cpuTicks: 1, wallMs: 100 }, coreBusy: { core0: 0.5, core1: 0.5 }, workerCpuMs: 5 },
    changes: [
      {
        service: 'svc-7',
        cluster: 'svc-7',
        port: 30001,
        convergenceMs: [300, null],
        cpu: { cpuTicks: 20, wallMs: 1000 },
        writtenAtEpochMs: 1000,
        cpuTrace: [
          { atMs: 0, cpuTicks: 100 },
          { atMs: 200, cpuTicks: 110 },
          { atMs: 300, cpuTicks: 114 },
          { atMs: 1000, cpuTicks: 120 },
        ],
        coreBusy: { core0: 0.3, core1: 0.1 },
        workerCpuMs: 10,
      },
    ],
    quietMs: 500,
    memoryKb: { beforeClients: 102400, afterSync: 204800, afterChanges: 204800, peak: 307200 },
    pushLatencyEds: { buckets: [{ le: 5, count: 1 }, { le: Number.POSITIVE_INFINITY, count: 2 }], sum: 9, count: 2 },
    streamErrors: 0,
    responses: 9,
  };
  const back = parseWithInfinity<WorkerResult>(stringifyWithInfinity(worker));
  t.same(back, worker);
  const summary = summarizeScale(back, 100, [1250]);
  t.same(summary.rebuildMs, [250]);
  // Rebuild: samples 0 → 300 ms (the first at or after 250); fan-out: 200 → 300 ms (around 250 and the last client at 300).
  t.same(summary.phases, [{ rebuildCpuMs: 140, fanOutMs: 50, fanOutCpuMs: 40, fanOutCpuUsPerClient: 20_000 }]);
  t.same(summary.memoryMb, { beforeClients: 100, afterSync: 200, afterChanges: 200, peak: 300 });
  t.equal(summary.changes.pooled.p99Ms, Number.POSITIVE_INFINITY);
  const result: ScaleResult = {
    schema: 'meshlet-control-plane-scale/1',
    date: '2026-11-25',
    startedAt: '',
    finishedAt: '',
    elapsedSec: 1,
    command: 'npm run bench -- --control-plane-scale',
    options: { ...DEFAULT_SCALE_OPTIONS, clients: 2, out: '/out' },
    machine: { cpuModel: 'cpu', cores: 2, kernel: 'k', os: 'os', nodeVersion: 'v20', clockTicksPerSecond: 100, pinning: true, versions: {} },
    mesh: { services: 10, endpointsPerService: 5, routedServices: 1, clusters: 12, endpoints: 50, fileBytes: 1024 },
    controlPlane: { startupMs: 1000, reloadedAtEpochMs: [1250] },
    loadAverage: { start: 0.5, end: 1 },
    worker: back,
    summary,
  };
  const md = renderScaleMarkdown(result);
  t.match(md, /Target p99 < 1\.00 s: \*\*not met\*\* \(p99 > timeout\)/);
  t.match(md, /1 vCPU and 1\.5 GB for 1000 services and 2000 sidecars/);
  t.match(md, /p50 > 5\.00 s/, 'a quantile past the last bucket is shown as such');
  t.match(md, /\| 1 \(svc-7\) \| 250 ms \| 140 ms \| 300 ms \| > timeout \| 50\.0 ms \| 40\.0 ms \| 20000 µs \| 200 ms CPU, 20 % of a core \|/);
});

t.test('CPU between two moments of an edit, from the 100 ms trace', async (t) => {
  const trace = [
    { atMs: 0, cpuTicks: 0 },
    { atMs: 100, cpuTicks: 10 },
    { atMs: 200, cpuTicks: 15 },
    { atMs: 300, cpuTicks: 30 },
  ];
  t.equal(ticksBetween(trace, 100, 200), 5, 'on samples');
  t.equal(ticksBetween(trace, 150, 250), 20, 'widened to the samples around');
  t.ok(Number.isNaN(ticksBetween(trace, 100, 400)), 'no sample after the end');
});

/** A mesh with each service's endpoints in address:port order: the registry adds registered ones in key order. */
function sortedEndpoints(mesh: MeshConfig): MeshConfig {
  const id = (e: { address: string; port: number }): string => `${e.address}:${e.port}`;
  return { ...mesh, services: mesh.services.map((s) => ({ ...s, endpoints: [...s.endpoints].sort((a, b) => id(a).localeCompare(id(b))) })) };
}

t.test('etcd mode: the document and the registrations are, to the registry, the mesh file', async (t) => {
  const prefix = '/meshlet';
  const doc = scaleMeshYaml(SMALL, [], { endpoints: false });
  t.notMatch(doc, /^\s+endpoints:|address:/m, 'no endpoints in the document');
  t.throws(() => parseMeshText(doc), 'as a mesh file it is incomplete: routes name versions no endpoint has');
  const document = parseMeshText(doc, ETCD_PARSE_OPTIONS);
  const registrations = scaleRegistrations(SMALL, prefix);
  t.equal(registrations.length, SMALL.services * SMALL.endpointsPerService);
  t.ok(
    registrations.every((r) => classifyKey(prefix, r.key).kind === 'endpoint'),
    "every key is an endpoint key of the registry's layout",
  );
  t.same(registrationEntry(prefix, 'svc-01', { address: '127.0.0.6', port: 8080 }), { key: '/meshlet/endpoints/svc-01/127.0.0.6:8080', value: '{"address":"127.0.0.6","port":8080}' });
  const entries = new Map([[meshKey(prefix), doc], ...registrations.map((r): [string, string] => [r.key, r.value])]);
  const seen = meshWithRegistrations(document, entries, prefix);
  t.same([...seen.ignored], [], 'no registration is ignored');
  t.same(sortedEndpoints(seen.mesh), sortedEndpoints(parseMeshText(scaleMeshYaml(SMALL))), 'the mesh the control plane builds is the file mode mesh');

  // Edits, applied to the keys as the bench's transaction applies them (delete, then put), are the file mode's edits.
  const moves = plannedMoves(SMALL, 2);
  for (let k = 0; k < moves.length; k++) {
    const edit = registrationMove(SMALL, prefix, moves, k);
    t.ok(entries.has(edit.deleteKey), `edit ${k + 1} deletes a key that is there`);
    t.notOk(entries.has(edit.put.key), `edit ${k + 1} puts a new key`);
    entries.delete(edit.deleteKey);
    entries.set(edit.put.key, edit.put.value);
    const after = meshWithRegistrations(document, entries, prefix);
    t.same(sortedEndpoints(after.mesh), sortedEndpoints(parseMeshText(scaleMeshYaml(SMALL, moves.slice(0, k + 1)))), `after edit ${k + 1}`);
  }
  t.same(new Map(scaleRegistrations(SMALL, prefix, moves).map((r) => [r.key, r.value])), new Map([...entries].filter(([key]) => key !== meshKey(prefix))));
});

t.test('etcd mode: an edit as keys', async (t) => {
  const prefix = '/p';
  const moves: EndpointMove[] = [
    { serviceIndex: 3, endpointIndex: 0, port: 30001 },
    { serviceIndex: 3, endpointIndex: 0, port: 30002 },
  ];
  const address = endpointAddress(3, 0, SMALL);
  t.same(registrationMove(SMALL, prefix, moves, 0), {
    deleteKey: `/p/endpoints/svc-03/${address}:8080`,
    put: { key: `/p/endpoints/svc-03/${address}:30001`, value: JSON.stringify({ address, port: 30001, weight: 1, region: 'local', zone: 'z0' }) },
  });
  t.equal(registrationMove(SMALL, prefix, moves, 1).deleteKey, `/p/endpoints/svc-03/${address}:30001`, 'a second move of an endpoint starts where the first left it');
  t.throws(() => registrationMove(SMALL, prefix, moves, 2), /no edit 2/);
  t.throws(() => registrationMove(SMALL, prefix, [{ serviceIndex: 3, endpointIndex: 0, port: 8080 }], 0), /does not move/);
  t.same(scaleEndpoint(0, SMALL.endpointsPerService - 1, SMALL), { address: endpointAddress(0, 4, SMALL), port: 8084, weight: 2, version: 'v2', region: 'local', zone: 'z1' }, "a routed service's canary");
  t.match(scaleMeshYaml(SMALL), `- {address: ${endpointAddress(0, 4, SMALL)}, port: 8084, weight: 2, version: v2, region: local, zone: z1}`, 'the file lists the same fields');
});

t.test('etcd mode: the member command line', async (t) => {
  const ports = { name: 'm0', client: 2379, peer: 2380, metrics: 2381 };
  const args = etcdArgs(ports, '/tmp/d', 'm0=http://127.0.0.1:2380', 'tok');
  t.match(args.join(' '), '--name m0 --data-dir /tmp/d --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379');
  t.match(args.join(' '), '--listen-metrics-urls http://127.0.0.1:2381');
  t.match(args.join(' '), '--initial-cluster m0=http://127.0.0.1:2380 --initial-cluster-state new --initial-cluster-token tok');
  t.notMatch(args.join(' '), /cert/);
  const tls = etcdArgs(ports, '/tmp/d', 'm0=http://127.0.0.1:2380', 'tok', { certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem' }).join(' ');
  t.match(tls, '--listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379');
  t.match(tls, '--cert-file /c.pem --key-file /k.pem --trusted-ca-file /ca.pem --client-cert-auth');
});

t.test('etcd mode: result file names and the report say which registry', async (t) => {
  const base = {
    schema: 'meshlet-control-plane-scale/1' as const,
    date: '2026-11-25',
    startedAt: '',
    finishedAt: '',
    elapsedSec: 1,
    command: 'x',
    machine: { cpuModel: 'cpu', cores: 2, kernel: 'k', os: 'os', nodeVersion: 'v20', clockTicksPerSecond: 100, pinning: true, versions: {} },
    mesh: { services: 10, endpointsPerService: 5, routedServices: 1, clusters: 12, endpoints: 50, fileBytes: 2048 },
    controlPlane: { startupMs: 1000, reloadedAtEpochMs: [] },
    loadAverage: { start: 0.5, end: 1 },
  };
  const file: ScaleResult = { ...base, options: { ...DEFAULT_SCALE_OPTIONS, out: '/out' } };
  const etcd: ScaleResult = {
    ...base,
    options: { ...DEFAULT_SCALE_OPTIONS, registry: 'etcd', out: '/out' },
    registry: {
      kind: 'etcd',
      version: '3.4.23',
      members: 1,
      url: 'etcd://127.0.0.1:41000',
      prefix: '/meshlet',
      core: 1,
      leaseTtlSec: 60,
      registrations: 50,
      registrationBytes: 6000,
      setupMs: { start: 300, document: 20, registrations: 900 },
    },
    error: 'stopped',
  };
  t.equal(resultBaseName(file), '2026-11-25-control-plane-scale');
  t.equal(resultBaseName(etcd), '2026-11-25-control-plane-scale-etcd');
  const fileMd = renderScaleMarkdown(file);
  t.match(fileMd, /serving the mesh file/);
  t.notMatch(fileMd, /etcd 3/, 'results without a registry are from a file');
  const md = renderScaleMarkdown(etcd);
  t.match(md, /^# Control plane at scale: .*, mesh in etcd 3\.4\.23 — 2026-11-25$/m);
  t.match(md, /Raw data: `2026-11-25-control-plane-scale-etcd\.json`/);
  t.match(md, /meshlet control-plane --registry etcd:\/\/127\.0\.0\.1:41000 --prefix \/meshlet/);
  t.match(md, /serving the mesh from \*\*etcd 3\.4\.23\*\*/);
  t.match(md, /in one etcd transaction/);
  const failed = renderScaleMarkdown({ ...etcd, registry: undefined, error: 'etcd m0 exited' });
  t.match(failed, /mesh in etcd — 2026-11-25/, 'an etcd run that failed before etcd was up still says etcd');
  t.match(failed, /\*\*Run failed:\*\* etcd m0 exited/);
  t.notMatch(failed, /serving the mesh file/);
});
