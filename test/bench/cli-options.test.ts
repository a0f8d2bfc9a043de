import t from 'tap';
import { parseBenchArgs, parseDuration } from '../../bench/cli-options';
import { SCENARIO_NAMES, SYSTEM_NAMES } from '../../bench/scenarios';

t.test('durations', async (t) => {
  t.equal(parseDuration('10s'), 10);
  t.equal(parseDuration('500ms'), 0.5);
  t.equal(parseDuration('1m'), 60);
  t.equal(parseDuration('3'), 3);
  t.equal(parseDuration('2.5s'), 2.5);
  t.equal(parseDuration('fast'), undefined);
});

t.test('defaults: everything, 3 rounds', async (t) => {
  const r = parseBenchArgs([], '/out');
  t.equal(r.kind, 'run');
  if (r.kind !== 'run') return;
  t.same(r.options.systems, [...SYSTEM_NAMES]);
  t.same(r.options.scenarios, [...SCENARIO_NAMES]);
  t.equal(r.options.rounds, 3);
  t.equal(r.options.out, '/out');
  t.equal(r.options.useWrk, true);
  t.equal(r.options.upstream, 'node');
});

t.test('--quick is meshlet + direct, one round, closed loop; explicit flags still win', async (t) => {
  const r = parseBenchArgs(['--quick'], '/out');
  t.match(r, { kind: 'run', options: { systems: ['meshlet', 'direct'], scenarios: ['closed'], rounds: 1, quick: true, warmupSec: 0 } });
  const o = parseBenchArgs(['--quick', '--systems', 'nginx,direct', '--duration', '3s'], '/out');
  t.match(o, { kind: 'run', options: { systems: ['nginx', 'direct'], durationSec: 3, rounds: 1 } });
});

t.test('flags and their errors', async (t) => {
  t.match(parseBenchArgs(['--systems', 'meshlet,haproxy', '--rounds', '5', '--duration', '10s', '--scenarios', 'single,mtls', '--generator', 'loadgen', '--upstream', 'nginx'], '/o'), {
    kind: 'run',
    options: { systems: ['meshlet', 'haproxy'], rounds: 5, durationSec: 10, scenarios: ['single', 'mtls'], useWrk: false, upstream: 'nginx' },
  });
  t.same(parseBenchArgs(['--help'], '/o'), { kind: 'help' });
  t.match(parseBenchArgs(['--systems', 'envoy'], '/o'), { kind: 'error', message: /unknown systems: envoy/ });
  t.match(parseBenchArgs(['--scenarios', 'chaos'], '/o'), { kind: 'error', message: /unknown scenarios: chaos/ });
  t.match(parseBenchArgs(['--rounds', '0'], '/o'), { kind: 'error', message: /--rounds/ });
  t.match(parseBenchArgs(['--duration', 'long'], '/o'), { kind: 'error', message: /--duration/ });
  t.match(parseBenchArgs(['--frobnicate'], '/o'), { kind: 'error' });
  t.match(parseBenchArgs(['--upstream', 'apache'], '/o'), { kind: 'error', message: /--upstream/ });
});
