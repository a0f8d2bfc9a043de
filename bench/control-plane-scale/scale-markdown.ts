/** The scale benchmark's Markdown report. Pure: ScaleResult → text. */
import type { TimeSummary } from './convergence';
import type { ScaleRegistryInfo, ScaleResult } from './scale-summary';

/** Istio's published istiod figure (Istio docs, "Performance and scalability"), the issue's reference point. */
export const ISTIOD_REFERENCE = { services: 1000, sidecars: 2000, vcpu: 1, memoryGb: 1.5 } as const;

/** The issue's target for the time from a mesh edit to every client having it. */
export const CONVERGENCE_P99_TARGET_MS = 1000;

function ms(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return '> timeout';
  if (!Number.isFinite(v)) return '–';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : 1)} ms`;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : '–';
}

function cores(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)} cores` : '–';
}

function mb(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(0)} MB` : '–';
}

/** A quantile estimated from histogram buckets: at the highest finite bound it only says "beyond it". */
function bucketed(v: number, highestBucketMs: number): string {
  return v >= highestBucketMs ? `> ${ms(highestBucketMs)}` : `≈ ${ms(v)}`;
}

/** `<date>-control-plane-scale` (file) or `<date>-control-plane-scale-etcd`: the results' file name without extension. */
export function resultBaseName(r: Pick<ScaleResult, 'date' | 'options'>): string {
  return `${r.date}-control-plane-scale${r.options.registry === 'etcd' ? '-etcd' : ''}`;
}

/** What the report says where the two modes differ: the mesh's source, the edit, the rebuild. */
interface ModeText {
  title: string;
  mesh: string;
  controlPlane: string;
  edit: string;
  rebuild: string;
  /** What the control plane's start reads. */
  load: string;
  caveats: string[];
}

function modeText(r: ScaleResult, pinning: boolean): ModeText {
  // Results from before the etcd mode have neither: they are from a file.
  const info: ScaleRegistryInfo | undefined = r.registry ?? (r.options.registry === 'etcd' ? undefined : { kind: 'file' });
  const kib = (r.mesh.fileBytes / 1024).toFixed(0);
  if (info === undefined) {
    // The etcd mode failed before its etcd was up and filled: the error says why.
    return {
      title: ', mesh in etcd',
      mesh: 'Mesh (generated, to be put in etcd: a document without endpoints, and the endpoints as registrations)',
      controlPlane: '`meshlet control-plane --registry etcd://…`, serving the mesh from an etcd the bench starts; the run did not get that far.',
      edit: 'Edit: one endpoint of one service moves to a new port, its registration deleted and the new one put in one etcd transaction.',
      rebuild: 'the watch event, 50 ms debounce, the registrations merged into the document',
      load: 'the whole prefix read from etcd',
      caveats: [],
    };
  }
  if (info.kind === 'file') {
    return {
      title: '',
      mesh: `Mesh (generated, ${kib} KiB of YAML)`,
      controlPlane: `\`meshlet control-plane --config\` as a child process${pinning ? ', pinned to core 0' : ''}, serving the mesh file.`,
      edit: 'Edit: rewrite the mesh file with one endpoint of one service moved to a new port; each client times the write → the EDS response carrying that port.',
      rebuild: '100 ms debounce, parse',
      load: 'mesh load',
      caveats: [],
    };
  }
  const writes = r.worker?.changes.flatMap((c) => (c.writeMs === undefined ? [] : [ms(c.writeMs)])) ?? [];
  const setup = info.setupMs;
  return {
    title: `, mesh in etcd ${info.version}`,
    mesh: `Mesh (generated: a ${kib} KiB YAML document without endpoints, and ${info.registrations} registered endpoints)`,
    controlPlane:
      `\`meshlet control-plane --registry ${info.url} --prefix ${info.prefix}\` as a child process${pinning ? ', pinned to core 0' : ''}, serving the mesh from **etcd ${info.version}**: ` +
      `one member started by the bench (free loopback ports, a temporary data directory${info.core === undefined ? '' : `, pinned to core ${info.core} with the clients`}). ` +
      `It holds the mesh document at \`${info.prefix}/mesh\`, validated and put as \`meshlet mesh apply\` does, and the ${info.registrations} endpoints as registrations, ` +
      `\`${info.prefix}/endpoints/<service>/<address>:<port>\` → the endpoint's JSON (${(info.registrationBytes / 1024).toFixed(0)} KiB of keys and values), put on a lease as \`meshlet register\` does: ` +
      `one lease (TTL ${info.leaseTtlSec} s, kept alive by the bench) rather than one per instance, since the control plane reads keys and never leases. ` +
      `Set-up: etcd healthy after ${ms(setup.start)}, the document put in ${ms(setup.document)}, the registrations in ${ms(setup.registrations)}. ` +
      'The control plane reads the whole prefix, then watches it.',
    edit:
      'Edit: one endpoint of one service moves to a new port, as a rescheduled pod would: its registration is deleted and the new one put (on the same lease) in one etcd transaction, ' +
      `conditional on the old key being there; each client times the transaction sent → the EDS response carrying that port${writes.length ? ` (the transaction's own round trip to its commit: ${writes.join(', ')})` : ''}.`,
    rebuild: 'the watch event, 50 ms debounce, the registrations merged into the last parsed document, the mesh compared with the last',
    load: `the whole prefix read from etcd, the document parsed and its ${info.registrations} registrations merged`,
    caveats: [
      `- etcd ${info.version} is one member on loopback${info.core === undefined ? '' : `, sharing core ${info.core} with the clients`}; its CPU is not counted in the control plane's. Its data directory is a temporary directory on this machine's file system, and each commit waits for etcd's fsync there.`,
    ],
  };
}

function timeRow(label: string, t: TimeSummary): string {
  return `| ${label} | ${ms(t.p50Ms)} | ${ms(t.p90Ms)} | ${ms(t.p99Ms)} | ${ms(t.maxMs)} | ${t.missing ? `${t.missing} of ${t.clients}` : '0'} |`;
}

export function renderScaleMarkdown(r: ScaleResult): string {
  const o = r.options;
  const flavor = o.flavor === 'sotw' ? 'state-of-the-world' : 'Delta';
  const mode = modeText(r, r.machine.pinning);
  const lines: string[] = [
    `# Control plane at scale: ${r.mesh.services} services × ${r.mesh.endpointsPerService} endpoints, ${o.clients} ${flavor} ADS clients${mode.title} — ${r.date}`,
    '',
    `Command: \`${r.command}\` (${r.elapsedSec.toFixed(0)} s, budget ${o.budgetSec} s). Raw data: \`${resultBaseName(r)}.json\`.`,
    '',
    '## Setup',
    '',
    `- ${mode.mesh}: ${r.mesh.services} services × ${r.mesh.endpointsPerService} endpoints (${r.mesh.endpoints} distinct loopback addresses, weights 1–3, three zones); ` +
      `${r.mesh.routedServices} of them have v1/v2 endpoints and routes (header match, 90/10 split, retries), so ${r.mesh.clusters} clusters and as many ClusterLoadAssignments. ` +
      `Every sidecar gets every cluster and assignment, the ${r.mesh.services}-virtual-host outbound route table and its outbound listener.`,
    `- Control plane: ${mode.controlPlane}`,
    `- Clients: one Node process${r.machine.pinning ? ' pinned to core 1' : ''} simulating ${o.clients} sidecars, each with its own gRPC channel and TCP connection, ` +
      `node.id unique and node.cluster a service (client i is the sidecar of service i mod ${r.mesh.services}), so ${Math.min(o.clients, r.mesh.services)} distinct sidecar roles. ` +
      `Each subscribes as Envoy does over ${flavor} ADS: CDS and LDS wildcard, then EDS for every EDS cluster and RDS for the listener's route configuration, ` +
      'and ACKs every response (version and nonce). Resources are not applied: clients read names off the wire and decode only the assignment they wait for.',
    `- ${mode.edit} Edits run one after the other, each on a different service.`,
    '',
  ];
  if (r.error) lines.push(`**Run failed:** ${r.error}`, '');
  const s = r.summary;
  const w = r.worker;
  const m = r.machine;
  if (s && w) {
    const p99 = s.changes.pooled.p99Ms;
    lines.push(
      '## Results',
      '',
      '| per client | p50 | p90 | p99 | max | missing |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      timeRow(`initial configuration (all ${o.clients} streams opened at once)`, s.initialSync),
      timeRow(`edit → client, ${w.changes.length} edit${w.changes.length === 1 ? '' : 's'} pooled (${s.changes.pooled.clients} samples)`, s.changes.pooled),
      ...s.changes.perChange.map((c, i) => timeRow(`edit ${i + 1} (${c.service})`, c.convergence)),
      '',
      '| edit | rebuild: write → "reloaded" logged | its CPU | first client | last client | fan-out: "reloaded" → last client | its CPU | per client | control plane, whole edit |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...s.changes.perChange.map((c, i) => {
        const rebuild = s.rebuildMs[i];
        const p = s.phases[i];
        return (
          `| ${i + 1} (${c.service}) | ${rebuild === null || rebuild === undefined ? '–' : ms(rebuild)} | ${p ? ms(p.rebuildCpuMs) : '–'} | ${ms(c.convergence.minMs)} | ${ms(c.convergence.maxMs)} | ` +
          `${p ? ms(p.fanOutMs) : '–'} | ${p ? ms(p.fanOutCpuMs) : '–'} | ${p && Number.isFinite(p.fanOutCpuUsPerClient) ? `${p.fanOutCpuUsPerClient.toFixed(0)} µs` : '–'} | ${ms(c.cpuMs)} CPU, ${pct(c.coreFraction)} of a core |`
        );
      }),
      '',
      `The rebuild (${mode.rebuild}, every role's snapshot, validation) ends with the control plane's own log line; ` +
        'from there to the last client is the fan-out: every connection compares what it holds, and each client is sent the one changed ' +
        'assignment (in SotW too: only LDS and CDS responses must be complete). CPU split at the log line from a 100 ms trace of the control plane\'s counter.',
      '',
      w.changes.length === 0
        ? 'No edit was timed.'
        : `Target p99 < ${ms(CONVERGENCE_P99_TARGET_MS)}: **${p99 < CONVERGENCE_P99_TARGET_MS ? 'met' : 'not met'}** (p99 ${ms(p99)}).` +
            (w.stoppedEarly ? ` Stopped early: ${w.stoppedEarly}.` : ''),
      '',
      '## Control plane cost',
      '',
      `- Start (${mode.load}, snapshots of ${r.mesh.services + 1} roles) until /ready: ${ms(r.controlPlane.startupMs)}.`,
      `- Initial sync of ${o.clients} clients: ${ms(s.initialSync.cpuMs)} of CPU, ${pct(s.initialSync.coreFraction)} of a core over the window.`,
      `- Per edit: median ${ms(s.changes.cpuMsPerUpdateMedian)} of CPU, ${pct(s.changes.coreFraction)} of a core from the write until every client had it (+ ${ms(w.quietMs)} quiet); ` +
        `of that, the fan-out to ${o.clients} clients: ${s.phases.map((p) => (p ? `${ms(p.fanOutCpuMs)} (${p.fanOutCpuUsPerClient.toFixed(0)} µs per client)` : '–')).join(', ')}.`,
      s.pushLatencyEds
        ? `- Its own metric, meshlet_control_plane_push_latency_seconds{type="EDS"} (change noticed → response written), over the edits: ${s.pushLatencyEds.count} responses, mean ${ms(s.pushLatencyEds.meanMs)}, ` +
          `p50 ${bucketed(s.pushLatencyEds.p50Ms, s.pushLatencyEds.highestBucketMs)}, p99 ${bucketed(s.pushLatencyEds.p99Ms, s.pushLatencyEds.highestBucketMs)} (estimated from its buckets, the highest of which is ${ms(s.pushLatencyEds.highestBucketMs)}).`
        : `- Push latency metric: ${w.pushLatencyError ?? 'no samples'}.`,
      `- Memory (RSS): ${mb(s.memoryMb.beforeClients)} with the mesh loaded and no client, ${mb(s.memoryMb.afterSync)} steady after the initial sync, ${mb(s.memoryMb.afterChanges)} after the edits; peak (VmHWM) ${mb(s.memoryMb.peak)}.`,
      `- Clients: ${w.responses} responses received, ${w.streamErrors} streams ended and were reopened${w.lastStreamError ? ` (last: ${w.lastStreamError})` : ''}. ` +
        `Client process CPU: ${ms(w.initial.workerCpuMs)} during the initial sync; core 1 busy ${pct(w.initial.coreBusy.core1)} then, core 0 ${pct(w.initial.coreBusy.core0)}.`,
      '',
      '## Against istiod',
      '',
      `Istio's published figure for istiod is ${ISTIOD_REFERENCE.vcpu} vCPU and ${ISTIOD_REFERENCE.memoryGb} GB for ${ISTIOD_REFERENCE.services} services and ${ISTIOD_REFERENCE.sidecars} sidecars. ` +
        `Here: ${r.mesh.services} services but ${o.clients} clients (${((o.clients / ISTIOD_REFERENCE.sidecars) * 100).toFixed(0)} % of the sidecars), ` +
        `peak ${mb(s.memoryMb.peak)} (${((s.memoryMb.peak / 1024 / ISTIOD_REFERENCE.memoryGb) * 100).toFixed(0)} % of istiod's memory), ` +
        `${pct(s.changes.coreFraction)} of a core while an edit propagates and ${ms(s.changes.cpuMsPerUpdateMedian)} of CPU per edit. ` +
        `Not like for like: istiod's figure is a steady state under Istio's continuous churn load on a dedicated vCPU; this is one edit at a time on a shared ${m.cores}-core machine, with ${(ISTIOD_REFERENCE.sidecars / o.clients).toFixed(0)}× fewer proxies.`,
      '',
    );
  }
  lines.push(
    '## Machine and caveats',
    '',
    `${m.cpuModel}, ${m.cores} cores, ${m.os}, kernel ${m.kernel}, Node ${m.nodeVersion}; ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    `- **${m.cores} shared cores.** The control plane has core 0 and all ${o.clients} clients share core 1 in one Node process, on a VM whose cores other tenants share. ` +
      'A client that is busy decoding its neighbours\' responses timestamps its own late: the tail of every client-side figure includes queueing in the client process (core 1 busy is reported).',
    ...mode.caveats,
    '- Loopback only: no network latency, no TLS (the mesh has mTLS off, so no certificates are issued).',
    '- Endpoint addresses are never dialled; clients do not apply configuration, so an Envoy\'s own apply time is not included.',
    ...(s
      ? [
          `- Other processes on the machine used ${cores(s.otherCores.initial)} on average during the initial sync and ${cores(s.otherCores.changes)} during the edits ` +
            `(both cores' busy time from /proc/stat minus the control plane's and the client process' CPU); 1-minute load average ${r.loadAverage.start.toFixed(1)} before the run.`,
        ]
      : []),
    `- CPU from /proc/<pid>/stat (utime + stime, ${m.clockTicksPerSecond} ticks/s), memory from /proc/<pid>/status (VmRSS, VmHWM), of the control plane process.`,
    '',
  );
  return `${lines.join('\n')}\n`;
}
