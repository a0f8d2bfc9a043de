/** What a running proxy's clusters hold, from its admin /clusters (Envoy's text layout: `cluster::host:port::stat::value`). */
import { performance } from 'node:perf_hooks';
import { request } from 'undici';

export async function proxyHasHost(adminUrl: string, cluster: string, host: string): Promise<boolean> {
  const text = await request(`${adminUrl}/clusters`).then((r) => r.body.text());
  return `\n${text}`.includes(`\n${cluster}::${host}::`);
}

/**
 * Milliseconds from `since` (performance.now()) until the proxy has (`present`) or no longer has
 * the host in the cluster, polled every 10 ms; rejects after `timeoutMs`.
 */
export async function untilProxyHost(adminUrl: string, cluster: string, host: string, present: boolean, since: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while ((await proxyHasHost(adminUrl, cluster, host)) !== present) {
    if (performance.now() > deadline) throw new Error(`${host} still ${present ? 'absent from' : 'in'} cluster ${cluster} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Math.round(performance.now() - since);
}
