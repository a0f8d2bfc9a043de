import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { MtlsMaterial } from './certs';
import type { LoadSpec } from './load/load-result';
import { runLoad, type LoadContext } from './load/run-load';
import { scrapeMeshlet, meshletHistogramDelta, type Scrape } from './meshlet-stats';
import { busyFraction, cpuMicrosPerRequest } from './proc-stats';
import { sampleCpus, sampleProcessTree, type TreeUsage } from './proc-sampler';
import type { ProcessRegistry, Tracked } from './processes';
import type { BenchOptions, RunSample, ScenarioResult, Skip } from './result-types';
import { CLOSED_CONNECTIONS, NOT_APPLICABLE, SYSTEM_NAMES, type Scenario } from './scenarios';
import { CLIENT_CORE, startSystem, stopSystem, type RunningSystem } from './systems';
import { summarizeScenario } from './summarize';

/** Everything a scenario needs that outlives it: the upstream, certificates, which systems cannot run at all. */
export interface RunEnv {
  procs: ProcessRegistry;
  repoRoot: string;
  tmpRoot: string;
  clockTicks: number;
  options: BenchOptions;
  upstream: Tracked;
  upstreamPort: number;
  deadPort: number;
  mtls?: MtlsMaterial;
  mtlsError?: string;
  /** Systems that cannot run anywhere (peer not installed), with the reason. */
  unavailable: Map<string, string>;
  log(line: string): void;
}

/** A request slower than this counts as an error; generous, as the loads here answer in milliseconds. */
const REQUEST_TIMEOUT_SEC = 2;
const READY_TIMEOUT_MS = 15_000;

/**
 * One scenario: start every applicable system, warm each up, then run the systems interleaved
 * (A B C, A B C, ...) so slow drift of the machine (thermal, noisy neighbours) spreads over all
 * systems instead of biasing whichever ran last.
 */
export async function runScenario(env: RunEnv, scenario: Scenario): Promise<ScenarioResult> {
  const skippedSystems: Skip[] = [];
  const wanted = SYSTEM_NAMES.filter((s) => env.options.systems.includes(s));
  const running: RunningSystem[] = [];
  const result: ScenarioResult = { name: scenario.name, title: scenario.title, description: scenario.description, skippedSystems, samples: [], summary: [] };
  try {
    for (const name of wanted) {
      if (!scenario.systems.includes(name)) {
        skippedSystems.push({ system: name, reason: NOT_APPLICABLE });
        continue;
      }
      const missing = env.unavailable.get(name);
      if (missing) {
        skippedSystems.push({ system: name, reason: missing });
        continue;
      }
      if (scenario.topology === 'mtls' && name !== 'direct' && !env.mtls) {
        skippedSystems.push({ system: name, reason: env.mtlsError ?? 'no certificates' });
        continue;
      }
      const dir = path.join(env.tmpRoot, scenario.name, name);
      mkdirSync(dir, { recursive: true });
      env.log(`${scenario.name}: starting ${name}`);
      const started = await startSystem(name, scenario.topology, {
        procs: env.procs,
        dir,
        repoRoot: env.repoRoot,
        upstreamPort: env.upstreamPort,
        deadPort: env.deadPort,
        mtls: env.mtls,
        readyTimeoutMs: READY_TIMEOUT_MS,
      });
      if (!started.ok) {
        env.log(`${scenario.name}: skipping ${name}: ${started.reason}`);
        skippedSystems.push({ system: name, reason: started.reason });
        continue;
      }
      running.push(started.system);
    }
    if (!running.some((s) => s.name !== 'direct')) {
      result.skipped = 'no proxy could be started for this scenario';
      return result;
    }
    for (const sys of [...running]) {
      if (sys.name === 'direct' || env.options.warmupSec <= 0) continue;
      try {
        // JIT, connection pools and buffers warm up under the heaviest load, whatever the scenario measures.
        await runLoad(loadContext(env, sys), { mode: 'closed', connections: CLOSED_CONNECTIONS, durationSec: env.options.warmupSec });
      } catch (err) {
        await dropSystem(env, running, sys, skippedSystems, `warm-up failed: ${errorText(err)}`);
      }
    }
    const spec = scenario.load(env.options.durationSec);
    for (let round = 1; round <= env.options.rounds; round++) {
      for (const sys of [...running]) {
        try {
          const sample = await measureRun(env, sys, scenario.name, round, spec);
          result.samples.push(sample);
          env.log(`${scenario.name} round ${round}/${env.options.rounds} ${sys.name}: ${Math.round(sample.load.rps)} req/s, p50 ${Math.round(sample.load.latencyUs.p50)} µs`);
        } catch (err) {
          // Without the upstream every later run would fail too, and blame the proxies.
          if (env.upstream.hasExited()) throw new Error(`the upstream exited during ${scenario.name} round ${round}: ${env.upstream.stderr().trim().slice(-500)}`);
          await dropSystem(env, running, sys, skippedSystems, `round ${round} failed: ${errorText(err)}`);
        }
      }
    }
    result.summary = summarizeScenario(result.samples, SYSTEM_NAMES);
    return result;
  } finally {
    await Promise.all(running.map((s) => stopSystem(env, s)));
  }
}

async function dropSystem(env: RunEnv, running: RunningSystem[], sys: RunningSystem, skipped: Skip[], reason: string): Promise<void> {
  env.log(`${sys.name}: ${reason}`);
  skipped.push({ system: sys.name, reason });
  running.splice(running.indexOf(sys), 1);
  await stopSystem(env, sys);
}

function loadContext(env: RunEnv, sys: RunningSystem): LoadContext {
  return { procs: env.procs, port: sys.port, core: CLIENT_CORE, useWrk: env.options.useWrk, tmpDir: env.tmpRoot, timeoutSec: REQUEST_TIMEOUT_SEC };
}

/**
 * One measured run. meshlet is scraped outside the CPU-sampling window, so serving the scrape is not
 * charged to requests.
 */
async function measureRun(env: RunEnv, sys: RunningSystem, scenario: string, round: number, spec: LoadSpec): Promise<RunSample> {
  const scrapesBefore = await scrapeAll(sys);
  const proxyBefore = sys.processes.map((t) => sampleProcessTree(t.pid));
  const upstreamBefore = sampleProcessTree(env.upstream.pid);
  const cpusBefore = sampleCpus();
  const load = await runLoad(loadContext(env, sys), spec);
  const cpusAfter = sampleCpus();
  const upstreamAfter = sampleProcessTree(env.upstream.pid);
  const proxyAfter = sys.processes.map((t) => sampleProcessTree(t.pid));
  const scrapesAfter = await scrapeAll(sys);
  if (sys.processes.some((t) => t.hasExited())) throw new Error(`${sys.name} exited during the run`);

  const ticks = (usage: TreeUsage[]): number => usage.reduce((a, u) => a + u.cpuTicks, 0);
  const sample: RunSample = {
    scenario,
    system: sys.name,
    round,
    load,
    upstreamCpuUsPerRequest: cpuMicrosPerRequest(upstreamAfter.cpuTicks - upstreamBefore.cpuTicks, env.clockTicks, load.requests),
    coreBusy: {
      core0: busyFraction(cpusBefore.get('cpu0'), cpusAfter.get('cpu0')),
      core1: busyFraction(cpusBefore.get('cpu1'), cpusAfter.get('cpu1')),
    },
  };
  if (sys.processes.length > 0) {
    const deltaTicks = ticks(proxyAfter) - ticks(proxyBefore);
    sample.proxy = {
      cpuSeconds: deltaTicks / env.clockTicks,
      cpuUsPerRequest: cpuMicrosPerRequest(deltaTicks, env.clockTicks, load.requests),
      peakRssKb: proxyAfter.reduce((a, u) => a + u.peakRssKb, 0),
      processes: proxyAfter.reduce((a, u) => a + u.pids.length, 0),
    };
  }
  if (sys.admins.length > 0) {
    sample.meshlet = sys.admins.map((a, i) => meshletHistogramDelta(a.process, scrapesBefore[i], scrapesAfter[i]));
  }
  return sample;
}

function scrapeAll(sys: RunningSystem): Promise<Scrape[]> {
  return Promise.all(sys.admins.map((a) => scrapeMeshlet(a.port)));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
