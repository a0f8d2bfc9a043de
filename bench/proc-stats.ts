/** The fields of /proc/<pid>/stat the harness needs; times are in clock ticks (see `getconf CLK_TCK`). */
export interface PidStat {
  pid: number;
  comm: string;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
}

/**
 * The command name (field 2) is in parentheses and may itself contain spaces and ')', so fields are
 * counted from the last ')'. utime and stime are fields 14 and 15 (proc(5)); they cover all threads.
 */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
  };
}

export interface PidStatus {
  /** Peak resident set size ("high water mark"), kB. */
  vmHwmKb: number;
  vmRssKb: number;
}

/** Missing fields (kernel threads, a process exiting) read as 0 rather than failing a whole run. */
export function parsePidStatus(text: string): PidStatus {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { vmHwmKb: kb('VmHWM'), vmRssKb: kb('VmRSS') };
}

/** Busy and total jiffies of one CPU line of /proc/stat. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/** Per-core times from /proc/stat, keyed "cpu0", "cpu1", ...; idle and iowait are the idle part (proc(5)). */
export function parseProcStatCpus(text: string): Map<string, CpuTimes> {
  const cpus = new Map<string, CpuTimes>();
  for (const line of text.split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    // Guest times are already included in user and nice, so only the first 8 fields are summed.
    const v = m[2].trim().split(/\s+/).slice(0, 8).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    cpus.set(m[1], { busy: total - idle, total });
  }
  return cpus;
}

export function busyFraction(before: CpuTimes | undefined, after: CpuTimes | undefined): number {
  if (!before || !after) return Number.NaN;
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : Number.NaN;
}

/**
 * The root and all its descendants: nginx's worker, meshlet's workers and haproxy's threads all do
 * the proxying, so the process tree is what "the proxy" costs.
 */
export function processTree(root: number, procs: readonly { pid: number; ppid: number }[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const tree: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    if (tree.includes(pid)) continue;
    tree.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return tree.sort((a, b) => a - b);
}

/** CPU time (user + system) consumed per completed request, in microseconds. */
export function cpuMicrosPerRequest(deltaTicks: number, clockTicksPerSecond: number, requests: number): number {
  if (requests <= 0 || clockTicksPerSecond <= 0) return Number.NaN;
  return ((deltaTicks / clockTicksPerSecond) * 1e6) / requests;
}
