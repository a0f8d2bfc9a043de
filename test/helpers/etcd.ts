/**
 * Real etcd for tests: Debian's etcd-server (test/setup/ensure-etcd installs it), one member or
 * a cluster, on free loopback ports with temporary data directories. Every wait is bounded, and
 * stop() kills what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './proxy-process';

const READY_TIMEOUT_MS = 20_000;

/** etcd 3.4 refuses to start on an architecture it does not support unless told to (node's names → Go's). */
const GO_ARCH: Readonly<Record<string, string>> = { arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };

export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:PORT` */
  readonly clientUrl: string;
  /** `127.0.0.1:PORT`, as --registry lists it. */
  readonly clientAddress: string;
  readonly running: boolean;
  /** Sends the signal and waits (bounded) until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Its stderr so far, for diagnostics. */
  log(): string;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** `etcd://` and every member, for --registry. */
  readonly registry: string;
  /** A client of the test's own (to every member), closed by stop(). */
  readonly client: Etcd3;
  stop(): Promise<void>;
}

interface MemberPorts {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
}

/** Starts `size` members as one new cluster and waits until each answers /health. */
export async function startEtcd(size = 1): Promise<EtcdCluster> {
  const ports: MemberPorts[] = [];
  for (let i = 0; i < size; i++) ports.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = ports.map((p) => `${p.name}=http://127.0.0.1:${p.peer}`).join(',');
  const token = `meshlet-test-${process.pid}-${ports[0]!.client}`;
  const members = ports.map((p) => startMember(p, initialCluster, token));
  const cluster: EtcdCluster = {
    members,
    registry: `etcd://${members.map((m) => m.clientAddress).join(',')}`,
    client: new Etcd3({ hosts: members.map((m) => m.clientUrl) }),
    async stop() {
      cluster.client.close();
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
    },
  };
  try {
    await Promise.all(members.map((m) => waitHealthy(m)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

function startMember(ports: MemberPorts, initialCluster: string, token: string): EtcdMember {
  const dataDir = mkdtempSync(join(tmpdir(), `meshlet-etcd-${ports.name}-`));
  const clientUrl = `http://127.0.0.1:${ports.client}`;
  const peerUrl = `http://127.0.0.1:${ports.peer}`;
  // The host's own ETCD_* variables would configure these members too.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
  const arch = GO_ARCH[process.arch];
  if (arch !== undefined) env.ETCD_UNSUPPORTED_ARCH = arch;
  const child: ChildProcess = spawn(
    'etcd',
    [
      ...['--name', ports.name, '--data-dir', dataDir],
      ...['--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl],
      ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
      ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token],
      // Fast elections, so that losing a member costs the tests a fraction of a second.
      ...['--heartbeat-interval', '50', '--election-timeout', '500'],
      ...['--logger', 'zap', '--log-level', 'warn'],
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.on('error', (err) => (stderr += `\nspawn etcd: ${err.message} (is etcd-server installed? test/setup/ensure-etcd)`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name: ports.name,
    clientUrl,
    clientAddress: `127.0.0.1:${ports.client}`,
    get running() {
      return !gone();
    },
    async kill(signal = 'SIGKILL') {
      if (!gone() && child.pid !== undefined) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
}

/** Until the member answers /health with true (in etcd 3.4: it has a leader). */
export async function waitHealthy(member: EtcdMember): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!member.running) throw new Error(`etcd ${member.name} exited: ${member.log().slice(-2000)}`);
    const health = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.json() as Promise<{ health?: string }>)
      .catch(() => undefined);
    if (health?.health === 'true') return;
    if (Date.now() > deadline) throw new Error(`etcd ${member.name} not healthy within ${READY_TIMEOUT_MS} ms: ${member.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The member serving the control plane's watch: its gauge of watchers is above 0 (the test's own client watches nothing). */
export async function memberWithWatcher(cluster: EtcdCluster): Promise<EtcdMember | undefined> {
  for (const member of cluster.members.filter((m) => m.running)) {
    const metrics = await fetch(`${member.clientUrl}/metrics`).then((r) => r.text());
    const watchers = /^etcd_debugging_mvcc_watcher_total (\S+)$/m.exec(metrics);
    if (watchers !== null && Number(watchers[1]) > 0) return member;
  }
  return undefined;
}
