import t from 'tap';
import { busyFraction, cpuMicrosPerRequest, parsePidStat, parsePidStatus, parseProcStatCpus, processTree } from '../../bench/proc-stats';

t.test('/proc/<pid>/stat, with a command name containing spaces and parentheses', async (t) => {
  const line =
    '4242 (nginx: worker (1)) S 4241 4241 3823 0 -1 4194624 1234 0 0 0 1507 893 0 0 20 0 1 0 48986 3133440 379 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n';
  const s = parsePidStat(line);
  t.equal(s.pid, 4242);
  t.equal(s.comm, 'nginx: worker (1)');
  t.equal(s.ppid, 4241);
  t.equal(s.utimeTicks, 1507);
  t.equal(s.stimeTicks, 893);
  t.throws(() => parsePidStat('garbage'));
});

t.test('/proc/<pid>/status VmHWM and VmRSS', async (t) => {
  const status = 'Name:\tnode\nVmPeak:\t 1089532 kB\nVmSize:\t 1024000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t   100000 kB\nThreads:\t7\n';
  t.same(parsePidStatus(status), { vmHwmKb: 123456, vmRssKb: 100000 });
  t.same(parsePidStatus('Name:\tkthreadd\n'), { vmHwmKb: 0, vmRssKb: 0 }, 'kernel threads have no memory lines');
});

t.test('/proc/stat per-core busy fraction', async (t) => {
  const before = parseProcStatCpus('cpu  200 0 100 1000 0 0 0 0 0 0\ncpu0 100 0 50 500 0 0 0 0 0 0\ncpu1 100 0 50 500 0 0 0 0 0 0\nintr 1\n');
  const after = parseProcStatCpus('cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 160 0 70 520 0 0 0 0 0 0\ncpu1 100 0 50 600 0 0 0 0 0 0\n');
  t.same([...before.keys()], ['cpu0', 'cpu1'], 'only per-core lines');
  t.equal(busyFraction(before.get('cpu0'), after.get('cpu0')), 0.8, '80 busy of 100 jiffies');
  t.equal(busyFraction(before.get('cpu1'), after.get('cpu1')), 0);
  t.ok(Number.isNaN(busyFraction(undefined, after.get('cpu1'))));
  const iowait = parseProcStatCpus('cpu0 10 0 10 70 10 0 0 0 5 0\n').get('cpu0');
  t.same(iowait, { busy: 20, total: 100 }, 'iowait is idle; guest is already in user');
});

t.test('process tree of a root', async (t) => {
  const procs = [
    { pid: 1, ppid: 0 },
    { pid: 10, ppid: 1 },
    { pid: 11, ppid: 10 },
    { pid: 12, ppid: 10 },
    { pid: 13, ppid: 12 },
    { pid: 20, ppid: 1 },
  ];
  t.same(processTree(10, procs), [10, 11, 12, 13]);
  t.same(processTree(20, procs), [20]);
});

t.test('CPU microseconds per request', async (t) => {
  t.equal(cpuMicrosPerRequest(150, 100, 30_000), 50, '1.5 s of CPU over 30 000 requests');
  t.ok(Number.isNaN(cpuMicrosPerRequest(10, 100, 0)));
});
