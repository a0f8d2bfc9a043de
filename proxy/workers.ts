import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { ProxyServer } from './server';

const LIVE_MESSAGE = 'meshlet:live';

/**
 * `--workers N`: node's cluster module shares each listener socket among N worker
 * processes, one core each. The primary serves admin: `/ready` turns LIVE when every
 * worker is, and `/stats/prometheus` sums the workers' metrics (prom-client's
 * AggregatorRegistry over IPC). A worker that dies is replaced.
 */
export function superviseWorkers(primary: ProxyServer, count: number): void {
  const aggregator = new AggregatorRegistry();
  primary.metricsText = () => aggregator.clusterMetrics();
  const live = new Set<number>();
  let stopping = false;

  const fork = (): void => {
    const worker = cluster.fork();
    worker.on('message', (message: { type?: string }) => {
      if (message?.type !== LIVE_MESSAGE) return;
      live.add(worker.id);
      if (live.size === count && primary.state === 'INITIALIZING') {
        primary.state = 'LIVE';
        primary.log.info({ workers: count, admin: primary.adminPort }, 'meshlet is live');
      }
    });
  };
  cluster.on('exit', (worker: Worker, code, signal) => {
    live.delete(worker.id);
    if (stopping) return;
    primary.log.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    fork();
  });
  for (let i = 0; i < count; i++) fork();

  primary.addDrainStep(async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            // Each worker drains its own listeners on SIGTERM, within the same drain time.
            w.process.kill('SIGTERM');
          }),
      ),
    );
  });
}

/** In a worker: let the primary collect this process's metrics, and tell it when this worker is live. */
export function reportToPrimary(worker: ProxyServer): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([worker.stats.registry]);
  process.send?.({ type: LIVE_MESSAGE });
}
