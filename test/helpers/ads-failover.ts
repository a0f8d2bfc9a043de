/**
 * What the control-plane failover tests share (test/xds/ads-failover.test.ts on a mesh file,
 * test/xds/control-plane/etcd-replicas.test.ts on etcd): replicas of `meshlet control-plane`
 * as real processes, what a proxy's admin says about the replica it is on, and a steady load
 * bounded in time. The proxy's bootstrap listing the replicas is adsBootstrap() with several
 * ports (./ads-test-server). Every wait is bounded.
 */
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { startControlPlane, type ControlPlaneProcess } from './control-plane-process';
import { freePort, type ProxyProcess } from './proxy-process';

/** Every wait for the proxy to notice something is bounded by this. */
export const WAIT_MS = 10_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * One request on a connection of its own: the tests' checks come seconds apart (a replica
 * starting, an outage), and a kept-alive connection the server closes just as it is reused
 * would fail the check, not the proxy.
 */
export function get(url: string) {
  return request(url, { reset: true });
}

/** Polls `check` every 50 ms until it returns a value, for at most `timeoutMs`; undefined if it never does. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() > deadline) return value;
    await sleep(50);
  }
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------
// Replicas

/**
 * The mesh both tests serve: service echo with a v1 and a v2 endpoint, and gateway `ingress`
 * (the proxy's node.cluster) on `gatewayPort` sending everything to version `to`.
 */
export function gatewayMesh(gatewayPort: number, echo: { v1: number; v2: number }, to: 'v1' | 'v2'): string {
  return `# written by a failover test (test/helpers/ads-failover.ts)
services:
  echo:
    connect_timeout: 250ms
    endpoints:
      - {address: 127.0.0.1, port: ${echo.v1}, version: v1}
      - {address: 127.0.0.1, port: ${echo.v2}, version: v2}
gateways:
  ingress:
    port: ${gatewayPort}
    routes:
      - name: all
        match: {prefix: /}
        to: {service: echo, version: ${to}}
`;
}

export interface Replica extends ControlPlaneProcess {
  /** `127.0.0.1:PORT`, its ADS address, as the proxy names it. */
  readonly address: string;
  readonly port: number;
  readonly adminPort: number;
}

/**
 * `meshlet control-plane` on `source` (`--config FILE` or `--registry etcd://...`), ready before
 * it is returned; its ports are free ones unless given (to start one again where it was).
 */
export async function startReplica(source: readonly string[], ports: { port?: number; adminPort?: number } = {}): Promise<Replica> {
  const port = ports.port ?? (await freePort());
  const adminPort = ports.adminPort ?? (await freePort());
  const controlPlane = await startControlPlane([...source, '--port', String(port)], adminPort);
  return { ...controlPlane, address: `127.0.0.1:${port}`, port, adminPort };
}

// ---------------------------------------------------------------------------------------------
// What the proxy says

export async function metrics(adminUrl: string): Promise<string[]> {
  return (await get(`${adminUrl}/stats/prometheus`).then((r) => r.body.text())).split('\n');
}

/** The replicas meshlet_xds_control_plane_info names (the one the stream is on, or none). */
export async function connectedTo(adminUrl: string): Promise<string[]> {
  return (await metrics(adminUrl)).flatMap((l) => /^meshlet_xds_control_plane_info\{address="([^"]+)"\} 1$/.exec(l)?.[1] ?? []);
}

/** Resolves with the replica once the proxy reports being on it (undefined after `timeoutMs`). */
export function connectedAt(adminUrl: string, address: string, timeoutMs = WAIT_MS): Promise<string | undefined> {
  return until(async () => ((await connectedTo(adminUrl)).join() === address ? address : undefined), timeoutMs);
}

/** The `*_update_rejected` samples that are not 0: what the proxy NACKed. */
export async function rejectedUpdates(adminUrl: string): Promise<string[]> {
  return (await metrics(adminUrl)).filter((l) => /^envoy_\w+_update_rejected(\{| )/.test(l) && !l.endsWith(' 0'));
}

/** The `msg` of each of the proxy's JSON log lines so far. */
export function proxyLog(proxy: ProxyProcess): string[] {
  return proxy
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
}

/** Who serves requests to `url` now: the x-served-by of one request (its status if it has none). */
export async function servedBy(url: string): Promise<string> {
  const res = await get(url);
  await res.body.text();
  return String(res.headers['x-served-by'] ?? res.statusCode);
}

/** Until a request to `url` is served by `name`: `name`, or undefined after `timeoutMs`. */
export function untilServedBy(url: string, name: string, timeoutMs = WAIT_MS): Promise<string | undefined> {
  return until(async () => ((await servedBy(url)) === name ? name : undefined), timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// The steady load

export interface LoadResult {
  /** Requests completed, failed ones included. */
  readonly done: number;
  /** Every non-200 answer and every error, with the time it happened. */
  readonly failures: string[];
  /** The 200 answers by their x-served-by. */
  readonly servedBy: Record<string, number>;
  /** True when the load was stopped by its time bound rather than by the test. */
  readonly cutShort: boolean;
}

/**
 * `clients` clients sending back to back over keep-alive connections until stopped, for at most
 * `maxMs` (a test asserts it was not cut short, so that everything it checks ran under load).
 */
export function steadyLoad(url: string, opts: { clients?: number; maxMs?: number } = {}) {
  const clients = opts.clients ?? 4;
  const agent = new Agent({ connections: clients });
  const failures: string[] = [];
  const served: Record<string, number> = {};
  let done = 0;
  let stopped = false;
  const deadline = Date.now() + (opts.maxMs ?? 5000);
  const running = Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stopped && Date.now() < deadline) {
        try {
          const res = await request(url, { dispatcher: agent, headersTimeout: 2000, bodyTimeout: 2000 });
          const text = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${new Date().toISOString()} ${res.statusCode} ${text.slice(0, 200)}`);
          else {
            const by = String(res.headers['x-served-by'] ?? '');
            served[by] = (served[by] ?? 0) + 1;
          }
        } catch (err) {
          failures.push(`${new Date().toISOString()} ${(err as Error).message}`);
          await sleep(5); // a refused connection fails at once: do not spin
        }
        done++;
      }
    }),
  );
  let result: Promise<LoadResult> | undefined;
  return {
    /** Stops the clients (idempotent, so a teardown may call it too). */
    stop(): Promise<LoadResult> {
      const cutShort = Date.now() >= deadline;
      stopped = true;
      result ??= running.then(() => agent.close()).then(() => ({ done, failures, servedBy: { ...served }, cutShort }));
      return result;
    },
  };
}
