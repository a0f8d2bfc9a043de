import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { otherCores, summarizeChanges, summarizeTimes, ticksBetween } from '../../bench/control-plane-scale/convergence';
import { parseWithInfinity, stringifyWithInfinity } from '../../bench/control-plane-scale/json';
import {
  endpointAddress,
  ISSUE_8_MESH,
  isRoutedService,
  meshShape,
  plannedMoves,
  scaleMeshYaml,
  serviceName,
  type ScaleMeshOptions,
} from '../../bench/control-plane-scale/mesh-generator';
import { assignmentHasPort, routeNamesOfListener } from '../../bench/control-plane-scale/resource-checks';
import { renderScaleMarkdown } from '../../bench/control-plane-scale/scale-markdown';
import { DEFAULT_SCALE_OPTIONS, parseScaleArgs } from '../../bench/control-plane-scale/scale-options';
import { rebuildDelays, reloadTimes, summarizeScale, type ScaleResult } from '../../bench/control-plane-scale/scale-summary';
import type { WorkerResult } from '../../bench/control-plane-scale/scale-types';
import { CLUSTER_TYPE_EDS, wireSummary } from '../../bench/control-plane-scale/wire-fields';
import { parseMesh } from '../../xds/control-plane/mesh-parser';
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
  t.same(rebuildDelays([4000.5, 8000, 12000], [5000, 9000]), [999.5, 1000, null]);
  t.same(rebuildDelays([5000.6], [5000]), [0], 'whole-millisecond log times');
  t.same(rebuildDelays([1000, 2000], [3000]), [null, 1000], 'a reload after the next write belongs to the next write');
});

t.test('options', async (t) => {
  t.same(parseScaleArgs([], '/out'), { kind: 'run', options: { ...DEFAULT_SCALE_OPTIONS, out: '/out' } });
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
