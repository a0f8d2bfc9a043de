import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeMtlsMaterial, type MtlsMaterial } from './certs';
import { freePort, waitFor200 } from './http-probe';
import { cpuModel, osDescription, packageVersion, toolVersion, versionNumber } from './machine-info';
import { nginxStaticUpstreamConfig } from './peers/nginx';
import { clockTicksPerSecond } from './proc-sampler';
import { isPinningAvailable, pinned, ProcessRegistry, type Tracked } from './processes';
import type { BenchOptions, BenchResult, MachineInfo, ScenarioResult } from './result-types';
import { runScenario } from './run-rounds';
import { scenarioByName, type Scenario } from './scenarios';
import { CLIENT_CORE } from './systems';
import { UPSTREAM_BODY } from './upstream-server';

const NODE_PEERS: Record<string, string[]> = {
  'node-http-proxy': ['http-proxy'],
  'fastify-reply-from': ['fastify', '@fastify/reply-from'],
  'undici-baseline': ['undici'],
};

/** Local calendar date, the name of the results files. */
export function localDate(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The machine a bench runs on; `versions` are those of what it measures or measures with, after meshlet's own. */
export function machineInfo(repoRoot: string, versions: Record<string, string>): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: os.cpus().length,
    kernel: os.release(),
    os: osDescription(),
    nodeVersion: process.version,
    clockTicksPerSecond: clockTicksPerSecond(),
    pinning: isPinningAvailable(),
    versions: {
      meshlet: String((JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string }).version),
      ...versions,
    },
  };
}

/** Probes tools and packages once: versions for the report, and why any system cannot run. */
function inspectMachine(repoRoot: string, options: BenchOptions): { machine: MachineInfo; unavailable: Map<string, string>; wrk: boolean; openssl: boolean } {
  const versions: Record<string, string> = {};
  const unavailable = new Map<string, string>();
  for (const [name, args] of [['nginx', ['-v']], ['haproxy', ['-v']]] as const) {
    const v = toolVersion(name, args);
    if (v) versions[name] = versionNumber(v);
    else unavailable.set(name, `${name} is not installed (run bench/setup --install)`);
  }
  for (const [system, packages] of Object.entries(NODE_PEERS)) {
    for (const pkg of packages) {
      const v = packageVersion(repoRoot, pkg);
      if (v) versions[pkg] = v;
      else unavailable.set(system, `npm package ${pkg} is not installed`);
    }
  }
  const wrk = toolVersion('wrk', ['-v']);
  if (wrk) versions.wrk = versionNumber(wrk);
  const openssl = toolVersion('openssl', ['version']);
  if (openssl) versions.openssl = versionNumber(openssl);
  return {
    machine: machineInfo(repoRoot, versions),
    unavailable,
    wrk: wrk !== undefined && options.useWrk,
    openssl: openssl !== undefined,
  };
}

async function startUpstream(procs: ProcessRegistry, kind: BenchOptions['upstream'], tmpRoot: string): Promise<{ tracked: Tracked; port: number }> {
  if (kind === 'nginx') {
    const port = await freePort();
    const dir = path.join(tmpRoot, 'upstream-nginx');
    mkdirSync(dir, { recursive: true });
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, nginxStaticUpstreamConfig({ dir, listenPort: port, body: UPSTREAM_BODY.toString('latin1') }));
    const tracked = procs.spawn('upstream', ...pinned(CLIENT_CORE, 'nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf]));
    const ready = await waitFor200(`http://127.0.0.1:${port}/`, 10_000, () => !tracked.hasExited());
    if (!ready.ok) throw new Error(`nginx upstream: ${ready.reason} ${tracked.stderr().slice(-300)}`);
    return { tracked, port };
  }
  const tracked = procs.spawn('upstream', ...pinned(CLIENT_CORE, process.execPath, [path.join(__dirname, 'upstream-server.js'), '--port', '0']));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !tracked.hasExited()) {
    const line = tracked.stdout().split('\n').find((l) => l.startsWith('{'));
    if (line) {
      const port = (JSON.parse(line) as { port: number }).port;
      const ready = await waitFor200(`http://127.0.0.1:${port}/`, 5000, () => !tracked.hasExited());
      if (ready.ok) return { tracked, port };
      throw new Error(`upstream: ${ready.reason}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`upstream did not start: ${tracked.stderr().slice(-300)}`);
}

/**
 * The whole benchmark: machine inspection, one upstream for all scenarios (pinned to core 1 with the
 * load generator), then each scenario in turn. Every process started is stopped before returning,
 * and on SIGINT.
 */
export async function runBench(options: BenchOptions, repoRoot: string, log: (line: string) => void): Promise<BenchResult> {
  const started = new Date();
  const procs = new ProcessRegistry();
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-'));
  const removeTmp = (): void => rmSync(tmpRoot, { recursive: true, force: true });
  const removeHooks = procs.installExitHooks(removeTmp);
  let stopping = false;
  try {
    const { machine, unavailable, wrk, openssl } = inspectMachine(repoRoot, options);
    if (options.useWrk && !wrk) log('wrk not installed: closed-loop loads use the Node loadgen (run bench/setup --install for wrk)');
    if (options.upstream === 'nginx' && unavailable.has('nginx')) throw new Error('--upstream nginx needs nginx (run bench/setup --install)');
    const upstream = await startUpstream(procs, options.upstream, tmpRoot);
    log(`upstream (${options.upstream}) on 127.0.0.1:${upstream.port}, core ${CLIENT_CORE}`);
    void upstream.tracked.exited.then(({ code, signal }) => {
      if (!stopping) log(`upstream exited unexpectedly (code ${code}, signal ${signal}): ${upstream.tracked.stderr().trim().slice(-1000)}`);
    });
    const scenarios = options.scenarios.map((n) => scenarioByName(n)).filter((s): s is Scenario => s !== undefined);
    let mtls: MtlsMaterial | undefined;
    let mtlsError: string | undefined;
    if (scenarios.some((s) => s.topology === 'mtls')) {
      if (!openssl) mtlsError = 'openssl is not installed, needed to make the mTLS certificates';
      else {
        try {
          const dir = path.join(tmpRoot, 'certs');
          mkdirSync(dir);
          mtls = await makeMtlsMaterial(procs, dir);
        } catch (err) {
          mtlsError = err instanceof Error ? err.message : String(err);
        }
      }
    }
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      results.push(
        await runScenario(
          {
            procs,
            repoRoot,
            tmpRoot,
            clockTicks: machine.clockTicksPerSecond,
            options: { ...options, useWrk: wrk },
            upstream: upstream.tracked,
            upstreamPort: upstream.port,
            deadPort: await freePort(),
            mtls,
            mtlsError,
            unavailable,
            log,
          },
          scenario,
        ),
      );
    }
    const finished = new Date();
    return {
      schema: 'meshlet-bench/1',
      date: localDate(started),
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      elapsedSec: (finished.getTime() - started.getTime()) / 1000,
      options: { ...options, useWrk: wrk },
      machine,
      skipped: [...unavailable.entries()].filter(([s]) => options.systems.includes(s)).map(([system, reason]) => ({ system, reason })),
      scenarios: results,
    };
  } finally {
    stopping = true;
    await procs.stopAll();
    removeHooks();
    removeTmp();
  }
}
