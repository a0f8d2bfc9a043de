/**
 * Real etcd processes: Debian's etcd-server (3.4; `bash test/setup/ensure-etcd` installs it), one
 * member or a cluster, on free loopback ports with temporary data directories. The one starter
 * of etcd in the checkout: the control-plane scale benchmark's etcd mode and the tests
 * (test/helpers/etcd.ts) both use it. Every wait is bounded, and stop() kills what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortBelowEphemeral } from './http-probe';

const READY_TIMEOUT_MS = 20_000;
const KILL_GRACE_MS = 5000;
/** Of each member's stderr (etcd logs at warn), for error messages. */
const KEPT_LOG_CHARS = 64 * 1024;

/** etcd 3.4 refuses to start on an architecture it does not support unless told to (node's names → Go's). */
const GO_ARCH: Readonly<Record<string, string>> = { arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:PORT` */
  readonly clientUrl: string;
  /** `127.0.0.1:PORT`, as --registry lists it. */
  readonly clientAddress: string;
  /** `http://127.0.0.1:PORT`: /health and /metrics, in plaintext even when the clients' port is TLS. */
  readonly metricsUrl: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Sends the signal and waits (bounded) until the process is gone, then removes its data directory. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** The end of its stderr so far, for diagnostics. */
  log(): string;
}

export interface EtcdProcesses {
  readonly members: readonly EtcdMember[];
  /** `etcd://` and every member, for --registry. */
  readonly registry: string;
  /** Kills every member (SIGKILL) and removes the data directories. */
  stop(): Promise<void>;
}

/**
 * How a member's process is started: by default a plain child with stderr piped. The benchmark
 * passes its ProcessRegistry's (pinned to a core, killed by its reaper even if the harness is).
 * The child's stderr must be a pipe.
 */
export type EtcdSpawner = (command: string, args: readonly string[], env: NodeJS.ProcessEnv) => ChildProcess;

export interface StartEtcdOptions {
  /** Members (default 1). */
  readonly size?: number;
  /** How long the members may take to answer /health (default 20 s). */
  readonly readyTimeoutMs?: number;
  readonly spawn?: EtcdSpawner;
  /** Where the data directories are made (default the OS's temporary directory). */
  readonly dataDirParent?: string;
  /** Names the cluster's token (`<label>-<pid>-<port>`), so that members of different runs never join. */
  readonly label?: string;
  /** Clients over TLS with these files (PEM), and only with a certificate the CA signed (--client-cert-auth). */
  readonly tls?: EtcdTlsFiles;
}

export interface EtcdTlsFiles {
  /** The server certificate (chain) and its key: for 127.0.0.1. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA clients' certificates must chain to. */
  readonly caFile: string;
}

interface MemberPorts {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
  readonly metrics: number;
}

const spawnChild: EtcdSpawner = (command, args, env) => spawn(command, [...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });

/** The command line of one member of a new cluster (pure). */
export function etcdArgs(ports: MemberPorts, dataDir: string, initialCluster: string, token: string, tls?: EtcdTlsFiles): string[] {
  const clientUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${ports.client}`;
  const peerUrl = `http://127.0.0.1:${ports.peer}`;
  return [
    ...['--name', ports.name, '--data-dir', dataDir],
    ...['--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl],
    ...['--listen-metrics-urls', `http://127.0.0.1:${ports.metrics}`],
    ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth'] : []),
    ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
    ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token],
    // Fast elections, so that losing a member costs a fraction of a second.
    ...['--heartbeat-interval', '50', '--election-timeout', '500'],
    ...['--logger', 'zap', '--log-level', 'warn'],
  ];
}

/** Starts `size` members as one new cluster and waits until each answers /health. */
export async function startEtcdProcesses(options: StartEtcdOptions = {}): Promise<EtcdProcesses> {
  const size = options.size ?? 1;
  const ports: MemberPorts[] = [];
  // etcd binds its ports a moment after they are chosen: below the ephemeral range, no outgoing
  // connection of another process can take one meanwhile.
  for (let i = 0; i < size; i++) {
    ports.push({ name: `m${i}`, client: await freePortBelowEphemeral(), peer: await freePortBelowEphemeral(), metrics: await freePortBelowEphemeral() });
  }
  const initialCluster = ports.map((p) => `${p.name}=http://127.0.0.1:${p.peer}`).join(',');
  const token = `${options.label ?? 'meshlet'}-${process.pid}-${ports[0]!.client}`;
  const members = ports.map((p) => startMember(p, initialCluster, token, options));
  const processes: EtcdProcesses = {
    members,
    registry: `etcd://${members.map((m) => m.clientAddress).join(',')}`,
    async stop() {
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
    },
  };
  try {
    await Promise.all(members.map((m) => waitHealthy(m, options.readyTimeoutMs)));
  } catch (err) {
    await processes.stop();
    throw err;
  }
  return processes;
}

function startMember(ports: MemberPorts, initialCluster: string, token: string, options: StartEtcdOptions): EtcdMember {
  const dataDir = mkdtempSync(join(options.dataDirParent ?? tmpdir(), `meshlet-etcd-${ports.name}-`));
  // The host's own ETCD_* variables would configure these members too.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const arch = GO_ARCH[process.arch];
  if (arch !== undefined) env.ETCD_UNSUPPORTED_ARCH = arch;
  const child = (options.spawn ?? spawnChild)('etcd', etcdArgs(ports, dataDir, initialCluster, token, options.tls), env);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-KEPT_LOG_CHARS)));
  let spawnFailed = false;
  let markExited: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => (markExited = resolve));
  const installHint = '(is etcd-server installed? bash test/setup/ensure-etcd)';
  child.once('exit', (code) => {
    // 127: a wrapper such as taskset could not find etcd.
    if (code === 127) stderr += ` ${installHint}`;
    markExited();
  });
  child.on('error', (err) => {
    stderr += `\nspawn etcd: ${err.message} ${installHint}`;
    // A process that never started emits no 'exit' to wait for.
    if (child.pid === undefined) {
      spawnFailed = true;
      markExited();
    }
  });
  const gone = (): boolean => spawnFailed || child.exitCode !== null || child.signalCode !== null;
  const clientUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${ports.client}`;
  return {
    name: ports.name,
    clientUrl,
    clientAddress: `127.0.0.1:${ports.client}`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}`,
    pid: child.pid,
    get running() {
      return !gone();
    },
    async kill(signal = 'SIGKILL') {
      if (!gone()) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
}

/** Until the member answers /health with true (in etcd 3.4: it has a leader), at most `timeoutMs`. */
export async function waitHealthy(member: EtcdMember, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!member.running) throw new Error(`etcd ${member.name} exited: ${member.log().slice(-2000)}`);
    const health = await fetch(`${member.metricsUrl}/health`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.json() as Promise<{ health?: string }>)
      .catch(() => undefined);
    if (health?.health === 'true') return;
    if (Date.now() > deadline) throw new Error(`etcd ${member.name} not healthy within ${timeoutMs} ms: ${member.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server's version as it reports it on /version (`3.4.23`), or undefined if it does not answer. */
export async function etcdServerVersion(member: EtcdMember): Promise<string | undefined> {
  const version = await fetch(`${member.clientUrl}/version`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.json() as Promise<{ etcdserver?: unknown }>)
    .catch(() => undefined);
  return typeof version?.etcdserver === 'string' ? version.etcdserver : undefined;
}
