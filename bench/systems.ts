import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MtlsMaterial } from './certs';
import { freePort, waitFor200, type ProbeTls } from './http-probe';
import { meshletBootstrapYaml, type MeshletBootstrapOptions } from './meshlet-bootstrap';
import { haproxyConfig } from './peers/haproxy';
import { nginxProxyConfig } from './peers/nginx';
import { peerArgv } from './peers/peer-args';
import { pinned, type ProcessRegistry, type Tracked } from './processes';
import type { SystemName, Topology } from './scenarios';

/** Core 0 belongs to the proxy; the upstream and the load generator share core 1. */
export const PROXY_CORE = 0;
export const CLIENT_CORE = 1;

export interface SystemContext {
  procs: ProcessRegistry;
  /** A fresh directory for this system's config files. */
  dir: string;
  repoRoot: string;
  upstreamPort: number;
  /** A port nothing listens on: the dead endpoint of the retry topology. */
  deadPort: number;
  mtls?: MtlsMaterial;
  readyTimeoutMs: number;
}

export interface RunningSystem {
  name: SystemName;
  /** Where the load generator sends requests. */
  port: number;
  /** The proxy processes (each with its descendants) whose CPU and memory are the system's cost. */
  processes: Tracked[];
  /** meshlet admin ports to scrape, by a name for the meshlet process. */
  admins: { process: string; port: number }[];
}

export type StartResult = { ok: true; system: RunningSystem } | { ok: false; reason: string };

const NODE_PEER_ENTRY: Partial<Record<SystemName, string>> = {
  'node-http-proxy': 'node-http-proxy-server.js',
  'fastify-reply-from': 'fastify-reply-from-server.js',
  'undici-baseline': 'undici-baseline-server.js',
};

const RETRY_POLICY = { retryOn: 'connect-failure,refused-stream,reset,5xx', numRetries: 2 };

/** Starts one system for one topology and waits until it proxies a request; on any failure nothing is left running. */
export async function startSystem(name: SystemName, topology: Topology, ctx: SystemContext): Promise<StartResult> {
  const started: Tracked[] = [];
  try {
    const result = await startInner(name, topology, ctx, started);
    if (!result.ok) await Promise.all(started.map((t) => ctx.procs.stop(t)));
    return result;
  } catch (err) {
    await Promise.all(started.map((t) => ctx.procs.stop(t)));
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

export async function stopSystem(ctx: { procs: ProcessRegistry }, system: RunningSystem): Promise<void> {
  await Promise.all(system.processes.map((t) => ctx.procs.stop(t)));
}

async function startInner(name: SystemName, topology: Topology, ctx: SystemContext, started: Tracked[]): Promise<StartResult> {
  const upstreamPorts = topology === 'retry' ? [ctx.upstreamPort, ctx.deadPort] : [ctx.upstreamPort];
  if (name === 'direct') return { ok: true, system: { name, port: ctx.upstreamPort, processes: [], admins: [] } };
  if (name === 'meshlet' || name === 'meshlet-2w') return startMeshlets(name, topology, ctx, started, upstreamPorts);
  if (topology === 'mtls') return { ok: false, reason: `no mTLS sidecar-pair configuration for ${name}` };

  const port = await freePort();
  let cmd: string;
  let args: string[];
  if (name === 'nginx') {
    const conf = path.join(ctx.dir, 'nginx.conf');
    writeFileSync(conf, nginxProxyConfig({ dir: ctx.dir, listenPort: port, upstreamPorts, retry: topology === 'retry' }));
    [cmd, args] = ['nginx', ['-p', ctx.dir, '-e', path.join(ctx.dir, 'error.log'), '-c', conf]];
  } else if (name === 'haproxy') {
    const conf = path.join(ctx.dir, 'haproxy.cfg');
    writeFileSync(conf, haproxyConfig({ listenPort: port, upstreamPorts, retry: topology === 'retry' }));
    [cmd, args] = ['haproxy', ['-db', '-f', conf]];
  } else {
    if (topology !== 'plain') return { ok: false, reason: `no ${topology} configuration for ${name}` };
    [cmd, args] = [process.execPath, [path.join(__dirname, 'peers', NODE_PEER_ENTRY[name] as string), ...peerArgv(port, ctx.upstreamPort)]];
  }
  const t = ctx.procs.spawn(name, ...pinned(PROXY_CORE, cmd, args));
  started.push(t);
  const ready = await waitFor200(`http://127.0.0.1:${port}/`, ctx.readyTimeoutMs, () => !t.hasExited());
  if (!ready.ok) return { ok: false, reason: `${ready.reason}${stderrTail(t)}` };
  return { ok: true, system: { name, port, processes: [t], admins: [] } };
}

async function startMeshlets(name: 'meshlet' | 'meshlet-2w', topology: Topology, ctx: SystemContext, started: Tracked[], upstreamPorts: number[]): Promise<StartResult> {
  const extraArgs = name === 'meshlet-2w' ? ['--workers', '2'] : [];
  if (topology !== 'mtls') {
    const listenPort = await freePort();
    const adminPort = await freePort();
    const r = await startOneMeshlet(ctx, started, name, extraArgs, {
      adminPort,
      listenPort,
      upstreamPorts,
      ...(topology === 'retry' ? { retry: RETRY_POLICY } : {}),
    });
    if (!r.ok) return r;
    return { ok: true, system: { name, port: listenPort, processes: [r.tracked], admins: [{ process: name, port: adminPort }] } };
  }
  if (!ctx.mtls) return { ok: false, reason: 'no certificates for the mTLS scenario (is openssl installed?)' };
  const [serverListen, serverAdmin, clientListen, clientAdmin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const server = await startOneMeshlet(ctx, started, `${name}-server-side`, extraArgs, {
    adminPort: serverAdmin,
    listenPort: serverListen,
    upstreamPorts,
    downstreamTls: ctx.mtls.server,
  });
  if (!server.ok) return server;
  const client = await startOneMeshlet(ctx, started, `${name}-client-side`, extraArgs, {
    adminPort: clientAdmin,
    listenPort: clientListen,
    upstreamPorts: [serverListen],
    upstreamTls: { ...ctx.mtls.client, sni: ctx.mtls.serverName, peerUriSan: ctx.mtls.serverSpiffeId },
  });
  if (!client.ok) return client;
  return {
    ok: true,
    system: {
      name,
      port: clientListen,
      processes: [client.tracked, server.tracked],
      admins: [
        { process: 'client side', port: clientAdmin },
        { process: 'server side', port: serverAdmin },
      ],
    },
  };
}

/**
 * meshlet is asked to `--validate` the generated bootstrap first: a feature that has not landed yet
 * (TLS, retries, --workers) then skips the system with meshlet's own explanation instead of a crash.
 */
async function startOneMeshlet(
  ctx: SystemContext,
  started: Tracked[],
  label: string,
  extraArgs: string[],
  bootstrap: MeshletBootstrapOptions,
): Promise<{ ok: true; tracked: Tracked } | { ok: false; reason: string }> {
  const config = path.join(ctx.dir, `${label}.yaml`);
  writeFileSync(config, meshletBootstrapYaml(bootstrap));
  const bin = path.join(ctx.repoRoot, 'bin', 'meshlet.js');
  const validate = await ctx.procs.run(`${label} --validate`, process.execPath, [bin, 'proxy', '--config', config, '--validate', ...extraArgs], 30_000);
  if (validate.code !== 0) {
    const said = meaningfulLines(`${validate.stderr}\n${validate.stdout}`).slice(0, 6).join(' / ');
    return { ok: false, reason: `meshlet rejected ${path.basename(config)}${validate.timedOut ? ' (timed out)' : ''}: ${said || `exit ${validate.code}`}` };
  }
  const t = ctx.procs.spawn(label, ...pinned(PROXY_CORE, process.execPath, [bin, 'proxy', '--config', config, '--log-level', 'error', ...extraArgs]));
  started.push(t);
  const alive = (): boolean => !t.hasExited();
  const admin = await waitFor200(`http://127.0.0.1:${bootstrap.adminPort}/ready`, ctx.readyTimeoutMs, alive);
  if (!admin.ok) return { ok: false, reason: `${label}: ${admin.reason}${stderrTail(t)}` };
  // An mTLS listener (the server side) is probed as the client side reaches it: with the client certificate.
  const probeTls: ProbeTls | undefined =
    bootstrap.downstreamTls && ctx.mtls ? { ...ctx.mtls.client, servername: ctx.mtls.serverName } : undefined;
  if (bootstrap.downstreamTls && !probeTls) return { ok: false, reason: `${label}: no client certificate to probe its mTLS listener with` };
  const proxied = await waitFor200(`${probeTls ? 'https' : 'http'}://127.0.0.1:${bootstrap.listenPort}/`, ctx.readyTimeoutMs, alive, probeTls);
  if (!proxied.ok) return { ok: false, reason: `${label} ready but not proxying: ${proxied.reason}${stderrTail(t)}` };
  return { ok: true, tracked: t };
}

/** Output lines without Node's stack-trace scaffolding, which would bury the one line that explains. */
function meaningfulLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^at\s/.test(l) && !/^\^+$/.test(l) && !/^throw\s/.test(l) && !/^node:internal\//.test(l) && !/^- \//.test(l) && l !== 'Require stack:' && !/^Node\.js v\d/.test(l));
}

function stderrTail(t: Tracked): string {
  const tail = meaningfulLines(t.stderr()).slice(-5).join(' / ');
  return tail ? ` — stderr: ${tail}` : '';
}
