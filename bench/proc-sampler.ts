import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parsePidStat, parsePidStatus, parseProcStatCpus, processTree, type CpuTimes, type PidStat } from './proc-stats';

/** Clock ticks per second for /proc times; 100 on every Linux we know, but asked rather than assumed. */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function readPidStat(pid: number): PidStat | undefined {
  try {
    return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // the process exited between listing and reading
  }
}

function allProcesses(): PidStat[] {
  const stats: PidStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readPidStat(Number(name));
    if (s) stats.push(s);
  }
  return stats;
}

export interface TreeUsage {
  pids: number[];
  cpuTicks: number;
  /** Sum of each process' own peak RSS: an upper bound of the tree's peak, exact for one process. */
  peakRssKb: number;
}

export function sampleProcessTree(root: number): TreeUsage {
  const procs = allProcesses();
  const pids = processTree(root, procs).filter((pid) => procs.some((p) => p.pid === pid));
  let cpuTicks = 0;
  let peakRssKb = 0;
  for (const pid of pids) {
    const s = procs.find((p) => p.pid === pid) as PidStat;
    cpuTicks += s.utimeTicks + s.stimeTicks;
    try {
      peakRssKb += parsePidStatus(readFileSync(`/proc/${pid}/status`, 'utf8')).vmHwmKb;
    } catch {
      // exited since the listing
    }
  }
  return { pids, cpuTicks, peakRssKb };
}

export function sampleCpus(): Map<string, CpuTimes> {
  return parseProcStatCpus(readFileSync('/proc/stat', 'utf8'));
}
