/**
 * Real etcd for tests: the processes come from bench/etcd-process.ts (shared with the
 * control-plane scale benchmark's etcd mode); this adds a client of the test's own and the
 * tests' queries. Every wait is bounded, and stop() kills what is left.
 */
import { Etcd3 } from 'etcd3';
import { startEtcdProcesses, waitHealthy, type EtcdMember, type EtcdProcesses } from '../../bench/etcd-process';

export { waitHealthy, type EtcdMember };

export interface EtcdCluster extends EtcdProcesses {
  /** A client of the test's own (to every member), closed by stop(). */
  readonly client: Etcd3;
}

/** Starts `size` members as one new cluster and waits until each answers /health. */
export async function startEtcd(size = 1): Promise<EtcdCluster> {
  const processes = await startEtcdProcesses({ size, label: 'meshlet-test' });
  const client = new Etcd3({ hosts: processes.members.map((m) => m.clientUrl) });
  return {
    members: processes.members,
    registry: processes.registry,
    client,
    async stop() {
      client.close();
      await processes.stop();
    },
  };
}

/** The member serving the control plane's watch: its gauge of watchers is above 0 (the test's own client watches nothing). */
export async function memberWithWatcher(cluster: EtcdCluster): Promise<EtcdMember | undefined> {
  for (const member of cluster.members.filter((m) => m.running)) {
    const metrics = await fetch(`${member.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
    const watchers = /^etcd_debugging_mvcc_watcher_total (\S+)$/m.exec(metrics);
    if (watchers !== null && Number(watchers[1]) > 0) return member;
  }
  return undefined;
}
