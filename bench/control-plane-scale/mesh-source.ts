/**
 * How the generated mesh reaches the control plane: the runner's side of the two modes, and all
 * that differs between them before the clients start. The file mode writes the mesh file. The
 * etcd mode starts a one-member etcd (bench/etcd-process.ts), puts the mesh document without
 * endpoints as `meshlet mesh apply` does, and registers every endpoint on a lease as
 * `meshlet register` does. Either tells the runner the control plane's flags, where the worker
 * writes edits, and which "mesh reloaded" lines are its rebuilds.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Lease } from 'etcd3';
import { parseMeshText } from '../../xds/control-plane/mesh-file';
import { etcdClient } from '../../xds/control-plane/registry/etcd-client';
import { DEFAULT_PREFIX, meshKey } from '../../xds/control-plane/registry/etcd-keys';
import { ETCD_PARSE_OPTIONS } from '../../xds/control-plane/registry/etcd-registry';
import { etcdServerVersion, startEtcdProcesses } from '../etcd-process';
import { isPinningAvailable, onStderrLines, pinned, type ProcessRegistry } from '../processes';
import { CLIENT_CORE } from '../systems';
import { scaleRegistrations, type KeyValue } from './etcd-registrations';
import { scaleMeshYaml, type ScaleMeshOptions } from './mesh-generator';
import type { ScaleRegistry } from './scale-options';
import type { ScaleRegistryInfo } from './scale-summary';
import type { EditTarget } from './scale-types';

export interface MeshSource {
  readonly info: ScaleRegistryInfo;
  /** The mesh file's text, or the document's (without endpoints). */
  readonly text: string;
  /** How the control plane is told where its mesh is: --config FILE, or --registry and --prefix. */
  readonly controlPlaneArgs: readonly string[];
  readonly edits: EditTarget;
  /** The fields the control plane's registry puts on its log lines, "mesh reloaded" among them. */
  readonly origin: Readonly<Record<string, string>>;
  /** Software besides meshlet's that the figures depend on, for the report (etcd's version). */
  readonly versions: Readonly<Record<string, string>>;
  /** Bounded; stops what the source started. */
  close(): Promise<void>;
}

export interface MeshSourceContext {
  readonly mesh: ScaleMeshOptions;
  /** The run's temporary directory (removed by the runner, also when it is killed). */
  readonly tmp: string;
  readonly procs: ProcessRegistry;
  /** Epoch ms by which the mesh must be in place. */
  readonly deadline: number;
  readonly log: (line: string) => void;
}

export function provideMesh(registry: ScaleRegistry, context: MeshSourceContext): Promise<MeshSource> {
  return registry === 'etcd' ? etcdMesh(context) : Promise.resolve(fileMesh(context));
}

function fileMesh({ mesh, tmp }: MeshSourceContext): MeshSource {
  const text = scaleMeshYaml(mesh);
  const meshFile = path.join(tmp, 'mesh.yaml');
  writeFileSync(meshFile, text);
  return {
    info: { kind: 'file' },
    text,
    controlPlaneArgs: ['--config', meshFile],
    edits: { kind: 'file', meshFile },
    origin: { file: meshFile },
    versions: {},
    close: async () => undefined,
  };
}

/**
 * The registrations' lease: long enough that a keep-alive delayed by a busy machine never loses
 * it (which would take every endpoint out of the mesh), kept alive by this process.
 */
const LEASE_TTL_SEC = 60;
/** Registrations in flight at once: 5000 sequential round trips would take seconds of the budget. */
const PUT_CONCURRENCY = 32;
/** etcd's own lines (warnings: slow disk, slow applies) shown, at most. */
const ETCD_LOG_LINES = 20;

async function etcdMesh({ mesh, tmp, procs, deadline, log }: MeshSourceContext): Promise<MeshSource> {
  const prefix = DEFAULT_PREFIX;
  const core = isPinningAvailable() ? CLIENT_CORE : undefined;
  let shown = 0;
  const startAt = Date.now();
  const etcd = await startEtcdProcesses({
    readyTimeoutMs: Math.max(1000, deadline - Date.now()),
    // Pinned to the clients' core: the control plane's core stays its own. Through the registry,
    // so that it is killed with everything else, even if this process is.
    spawn: (command, args, env) => {
      const t = procs.spawn('etcd', ...pinned(CLIENT_CORE, command, args), { env });
      onStderrLines(t, (line) => {
        if (shown++ < ETCD_LOG_LINES) log(`etcd: ${line}${shown === ETCD_LOG_LINES ? ' (further etcd lines not shown)' : ''}`);
      });
      return t.child;
    },
    dataDirParent: tmp,
    label: 'meshlet-bench',
  });
  const startMs = Date.now() - startAt;
  const member = etcd.members[0]!;
  // The registry's own client, as `meshlet mesh apply` and `meshlet register` use.
  const client = etcdClient(etcd.members.map((m) => m.clientUrl));
  let lease: Lease | undefined;
  const close = async (): Promise<void> => {
    lease?.release();
    client.close();
    await etcd.stop();
  };
  try {
    const version = (await etcdServerVersion(member)) ?? 'unknown';
    log(`etcd ${version}: one member at ${etcd.registry}${core === undefined ? '' : `, core ${core}`}, up after ${(startMs / 1000).toFixed(1)} s`);

    // `meshlet mesh apply`: the document is validated as the control planes will read it, then stored as it is.
    const text = scaleMeshYaml(mesh, [], { endpoints: false });
    parseMeshText(text, ETCD_PARSE_OPTIONS);
    const documentAt = Date.now();
    await client.put(meshKey(prefix)).value(text).exec();
    const documentMs = Date.now() - documentAt;

    // `meshlet register`, once per endpoint: its key put on a lease. One lease for all, not one per
    // instance: the control plane reads keys and never leases, and 5000 keep-alives would only load etcd.
    const registrations = scaleRegistrations(mesh, prefix);
    const registerAt = Date.now();
    const granted = client.lease(LEASE_TTL_SEC);
    lease = granted;
    granted.on('lost', (err: Error) => log(`etcd: the registrations' lease was lost (${err.message}): every registered endpoint is gone`));
    const leaseId = await granted.grant();
    await putBounded(registrations, deadline, (r) => granted.put(r.key).value(r.value).exec());
    const registrationsMs = Date.now() - registerAt;
    log(`etcd: mesh document (${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB) and ${registrations.length} registrations put in ${((documentMs + registrationsMs) / 1000).toFixed(1)} s`);
    return {
      info: {
        kind: 'etcd',
        version,
        members: etcd.members.length,
        url: etcd.registry,
        prefix,
        ...(core !== undefined && { core }),
        leaseTtlSec: LEASE_TTL_SEC,
        registrations: registrations.length,
        registrationBytes: registrations.reduce((n, r) => n + Buffer.byteLength(r.key) + Buffer.byteLength(r.value), 0),
        setupMs: { start: startMs, document: documentMs, registrations: registrationsMs },
      },
      text,
      controlPlaneArgs: ['--registry', etcd.registry, '--prefix', prefix],
      edits: { kind: 'etcd', hosts: etcd.members.map((m) => m.clientUrl), prefix, leaseId },
      origin: { registry: etcd.registry, key: meshKey(prefix) },
      versions: { etcd: version },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Every put, PUT_CONCURRENCY at a time; each call is bounded by the client's own timeout, the whole by `deadline`. */
async function putBounded(items: readonly KeyValue[], deadline: number, put: (item: KeyValue) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (Date.now() > deadline) throw new Error(`registering ${items.length} endpoints did not fit in the budget (${next} sent)`);
      await put(items[next++]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, items.length) }, worker));
}
