import type { LoadResult, LoadSpec } from './load-result';

/** Marks wrk's line of JSON among its human-readable output. */
const MARK = 'MESHLET_BENCH_JSON ';

/**
 * wrk's Lua `done` hook prints what the harness needs as JSON, including p99.9 which wrk's
 * --latency table lacks. wrk records latency in microseconds.
 */
export function wrkLuaScript(): string {
  return `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.3f,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
`;
}

/**
 * One thread: the generator shares core 1 with the upstream, and a second thread would only fight
 * for it. wrk takes whole seconds, so durations round up.
 */
export function wrkArgs(o: { url: string; connections: number; durationSec: number; timeoutSec: number; scriptPath: string }): string[] {
  return [
    '-t1',
    `-c${o.connections}`,
    `-d${Math.max(1, Math.ceil(o.durationSec))}s`,
    `--timeout`,
    `${Math.max(1, Math.ceil(o.timeoutSec))}s`,
    '-s',
    o.scriptPath,
    o.url,
  ];
}

/** wrk counts status >= 400 as "status" errors; they are still requests, as in the loadgen. */
export function parseWrkOutput(stdout: string, spec: LoadSpec): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`wrk printed no result line:\n${stdout.slice(-500)}`);
  const r = JSON.parse(line.slice(MARK.length)) as Record<string, number>;
  const durationSec = r.durationUs / 1e6;
  return {
    generator: 'wrk',
    spec,
    requests: r.requests,
    non2xx: r.status,
    socketErrors: r.connect + r.read + r.write + r.timeout,
    durationSec,
    rps: durationSec > 0 ? r.requests / durationSec : 0,
    latencyUs: { p50: r.p50, p90: r.p90, p99: r.p99, p999: r.p999, mean: r.mean, max: r.max },
  };
}
