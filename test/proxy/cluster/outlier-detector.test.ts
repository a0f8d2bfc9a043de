import t from 'tap';
import {
  DEFAULT_OUTLIER_DETECTION,
  OutlierDetector,
  successRateEjectionThreshold,
  type OutlierDecision,
  type OutlierDetectionConfig,
} from '../../../proxy/cluster/outlier-detector';
import type { UpstreamOutcome } from '../../../proxy/cluster/upstream-outcome';

const ok: UpstreamOutcome = { kind: 'response', status: 200 };
const s500: UpstreamOutcome = { kind: 'response', status: 500 };
const s503: UpstreamOutcome = { kind: 'response', status: 503 };
const connectFailure: UpstreamOutcome = { kind: 'connect_failure' };
const reset: UpstreamOutcome = { kind: 'reset' };
const timeout: UpstreamOutcome = { kind: 'timeout' };

function config(overrides: Partial<OutlierDetectionConfig> = {}, enforcing: Partial<OutlierDetectionConfig['enforcing']> = {}): OutlierDetectionConfig {
  return { ...DEFAULT_OUTLIER_DETECTION, maxEjectionPercent: 100, ...overrides, enforcing: { ...DEFAULT_OUTLIER_DETECTION.enforcing, ...enforcing } };
}

/** A detector over hosts named h0..h(n-1); `random` 0 always enforces, no jitter. */
function detector(n: number, c: OutlierDetectionConfig, random: () => number = () => 0) {
  const hosts = Array.from({ length: n }, (_, i) => `h${i}`);
  const d = new OutlierDetector<string>(c, random);
  d.setHosts(hosts);
  return { d, hosts };
}

function typeOf(d: OutlierDecision<string>): string {
  return 'type' in d ? d.type : '';
}

function report(d: OutlierDetector<string>, host: string, outcome: UpstreamOutcome, times: number, now = 0): OutlierDecision<string>[] {
  const all: OutlierDecision<string>[] = [];
  for (let i = 0; i < times; i++) all.push(...d.report(host, outcome, now));
  return all;
}

t.test('consecutive 5xx: ejected when the count reaches consecutive_5xx, a success resets it', async (t) => {
  const { d } = detector(3, config({ consecutive5xx: 3 }));
  t.same(report(d, 'h0', s500, 2), []);
  d.report('h0', ok, 0);
  t.same(report(d, 'h0', s500, 2), [], 'the success reset the count');
  t.same(d.report('h0', s500, 5), [{ kind: 'ejected', host: 'h0', type: 'consecutive_5xx', untilMs: 5 + 30_000 }]);
  t.ok(d.isEjected('h0'));
  t.equal(d.activeEjections, 1);
  t.same(report(d, 'h0', s500, 10), [], 'an ejected host is not ejected again');
});

t.test('default consecutive_5xx is 5', async (t) => {
  const { d } = detector(2, config());
  t.equal(report(d, 'h1', s500, 4).length, 0);
  t.equal(report(d, 'h1', s500, 1)[0]?.kind, 'ejected');
});

t.test('without the split, connect failures, resets and timeouts count as 503/504: 5xx and gateway failures', async (t) => {
  const { d } = detector(4, config({ consecutive5xx: 3 }));
  report(d, 'h0', connectFailure, 1);
  report(d, 'h0', reset, 1);
  t.same(d.report('h0', timeout, 0).map((x) => [x.kind, typeOf(x)]), [['ejected', 'consecutive_5xx']]);

  // Gateway failures: detected at consecutive_gateway_failure, but Envoy's default enforcement is 0 %.
  const g = detector(4, config({ consecutive5xx: 10, consecutiveGatewayFailure: 2 }));
  t.same(report(g.d, 'h1', s503, 2).map((x) => [x.kind, typeOf(x)]), [['not_enforced', 'consecutive_gateway_failure']]);
  t.notOk(g.d.isEjected('h1'));
  const e = detector(4, config({ consecutive5xx: 10, consecutiveGatewayFailure: 2 }, { consecutive_gateway_failure: 100 }));
  t.same(report(e.d, 'h1', connectFailure, 2).map((x) => [x.kind, typeOf(x)]), [['ejected', 'consecutive_gateway_failure']]);
  // A 500 is a 5xx but not a gateway failure: it resets the gateway count.
  const r = detector(4, config({ consecutive5xx: 10, consecutiveGatewayFailure: 2 }, { consecutive_gateway_failure: 100 }));
  report(r.d, 'h2', s503, 1);
  report(r.d, 'h2', s500, 1);
  t.same(report(r.d, 'h2', s503, 1), [], '503, 500, 503 is not two consecutive gateway failures');
});

t.test('split_external_local_origin_errors: local failures have their own counter and do not count as 5xx', async (t) => {
  const { d } = detector(4, config({ splitExternalLocalOriginErrors: true, consecutive5xx: 2, consecutiveLocalOriginFailure: 3 }));
  report(d, 'h0', connectFailure, 2);
  t.notOk(d.isEjected('h0'), 'two local failures: not the 5xx counter');
  d.report('h0', s500, 0); // a response: the connection worked, local-origin count resets
  report(d, 'h0', reset, 2);
  t.notOk(d.isEjected('h0'));
  t.same(d.report('h0', timeout, 0).map((x) => [x.kind, typeOf(x)]), [['ejected', 'consecutive_local_origin_failure']]);

  const x = detector(4, config({ splitExternalLocalOriginErrors: true, consecutive5xx: 2 }));
  report(x.d, 'h1', s503, 1);
  report(x.d, 'h1', connectFailure, 3);
  t.same(x.d.report('h1', s503, 0).map((y) => typeOf(y)), ['consecutive_5xx'], 'local failures in between do not reset the 5xx count');
});

t.test('ejection time: base × number of ejections, capped at max_ejection_time; hosts come back on the interval', async (t) => {
  const c = config({ consecutive5xx: 1, intervalMs: 100, baseEjectionTimeMs: 1000, maxEjectionTimeMs: 2500 });
  const { d } = detector(2, c);
  const monitor = d.monitor('h0')!;
  const eject = (now: number) => d.report('h0', s500, now)[0] as Extract<OutlierDecision<string>, { kind: 'ejected' }>;

  t.equal(eject(0).untilMs, 1000, 'first ejection: 1 × base');
  t.same(d.onInterval(900), [], 'not yet');
  t.same(d.onInterval(1000), [{ kind: 'unejected', host: 'h0' }]);
  t.notOk(d.isEjected('h0'));
  // Ejected again before an interval of good health passed: the multiplier grows.
  t.equal(eject(1050).untilMs, 1050 + 2000, 'second: 2 × base');
  d.onInterval(3050);
  t.equal(eject(3060).untilMs, 3060 + 2500, 'third: capped at max_ejection_time');
  d.onInterval(5560);
  t.notOk(d.isEjected('h0'));
  t.equal(monitor.numEjections, 3);
  const backoff = monitor.ejectTimeBackoff;
  // Healthy intervals decay the multiplier, one step per interval.
  d.onInterval(5660);
  d.onInterval(5760);
  t.equal(monitor.ejectTimeBackoff, backoff - 2);
  t.equal(monitor.consecutive5xx, 0, 'unejection reset the counters');
});

t.test('max_ejection_time_jitter adds up to the jitter to the ejection', async (t) => {
  const { d } = detector(2, config({ consecutive5xx: 1, baseEjectionTimeMs: 1000, maxEjectionTimeJitterMs: 99 }), () => 0.5);
  // random 0.5 < enforcing 100 %: enforced; jitter floor(0.5 × 100) = 50.
  const e = d.report('h0', s500, 0)[0] as Extract<OutlierDecision<string>, { kind: 'ejected' }>;
  t.equal(e.untilMs, 1050);
});

t.test('max_ejection_percent counts the ejection being decided; always_eject_one_host lets one through', async (t) => {
  const c = config({ consecutive5xx: 1, maxEjectionPercent: 50 });
  const { d } = detector(4, c);
  t.equal(d.report('h0', s500, 0)[0]?.kind, 'ejected', '1 of 4 = 25 %');
  t.equal(d.report('h1', s500, 0)[0]?.kind, 'ejected', '2 of 4 = 50 %');
  t.same(d.report('h2', s500, 0), [{ kind: 'overflow', host: 'h2', type: 'consecutive_5xx' }], '3 of 4 = 75 % > 50 %');
  t.equal(d.activeEjections, 2);

  // Envoy's default 10 %: with 3 hosts no ejection at all...
  const small = detector(3, config({ consecutive5xx: 1, maxEjectionPercent: 10 }));
  t.equal(small.d.report('h0', s500, 0)[0]?.kind, 'overflow');
  // ...unless always_eject_one_host, which allows the first one only.
  const one = detector(3, config({ consecutive5xx: 1, maxEjectionPercent: 10, alwaysEjectOneHost: true }));
  t.equal(one.d.report('h0', s500, 0)[0]?.kind, 'ejected');
  t.equal(one.d.report('h1', s500, 0)[0]?.kind, 'overflow');
});

t.test('enforcing_consecutive_5xx is a percentage of detections', async (t) => {
  let r = 0;
  // 20 < 50: enforced (then 0 for its jitter); 70 >= 50: not enforced.
  const randoms = [0.2, 0, 0.7];
  const { d } = detector(4, config({ consecutive5xx: 1 }, { consecutive_5xx: 50 }), () => randoms[r++ % randoms.length]!);
  t.equal(d.report('h0', s500, 0)[0]?.kind, 'ejected');
  t.equal(d.report('h1', s500, 0)[0]?.kind, 'not_enforced');
});

t.test('success rate: Envoy\'s mean − factor × stdev over the hosts with enough volume', async (t) => {
  // Envoy's own example: {50, 100, 100, 100, 100} → mean 90, stdev 20, threshold 90 − 1.9 × 20 = 52.
  const numbers = successRateEjectionThreshold([50, 100, 100, 100, 100], 1.9);
  t.equal(numbers.average, 90);
  t.equal(numbers.ejectionThreshold, 52);

  const c = config({ consecutive5xx: 1000, intervalMs: 10, successRateRequestVolume: 10, successRateMinimumHosts: 5 });
  const { d, hosts } = detector(5, c);
  for (const h of hosts) {
    for (let i = 0; i < 10; i++) d.report(h, h === 'h0' && i % 2 === 0 ? s500 : ok, 0);
  }
  t.same(d.onInterval(10), [{ kind: 'ejected', host: 'h0', type: 'success_rate', untilMs: 10 + 30_000 }]);
  t.equal(d.externalNumbers.average, 90);
  t.equal(d.externalNumbers.ejectionThreshold, 52);
  t.equal(d.monitor('h1')!.successRate, 100);
  // The next interval has no requests: nothing computed, nothing ejected.
  t.same(d.onInterval(20), []);
  t.equal(d.externalNumbers.average, -1);
});

t.test('success rate needs success_rate_minimum_hosts hosts with success_rate_request_volume requests', async (t) => {
  const c = config({ consecutive5xx: 1000, successRateRequestVolume: 10, successRateMinimumHosts: 5 });
  const { d, hosts } = detector(5, c);
  for (const h of hosts) {
    // h4 has too few requests: only 4 hosts qualify.
    const n = h === 'h4' ? 9 : 10;
    for (let i = 0; i < n; i++) d.report(h, h === 'h0' ? s500 : ok, 0);
  }
  t.same(d.onInterval(10), []);
  t.equal(d.externalNumbers.average, -1);
});

t.test('local-origin success rate with the split, and failure percentage (enforced only when configured)', async (t) => {
  const c = config({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 1000, successRateRequestVolume: 10, successRateMinimumHosts: 5 });
  const { d, hosts } = detector(5, c);
  for (const h of hosts) for (let i = 0; i < 10; i++) d.report(h, h === 'h3' && i < 5 ? connectFailure : ok, 0);
  t.same(
    d.onInterval(10).map((x) => [x.kind, x.host, 'type' in x ? x.type : '']),
    [['ejected', 'h3', 'local_origin_success_rate']],
  );

  const f = config({ consecutive5xx: 1000, successRateMinimumHosts: 100, failurePercentageRequestVolume: 10, failurePercentageMinimumHosts: 3 });
  const fp = detector(3, f);
  for (const h of fp.hosts) for (let i = 0; i < 10; i++) fp.d.report(h, h === 'h2' && i < 9 ? s500 : ok, 0);
  t.same(fp.d.onInterval(10).map((x) => x.kind), ['not_enforced'], '90 % failures ≥ 85 %: detected, enforcing_failure_percentage defaults to 0');
  const fe = detector(3, { ...f, enforcing: { ...f.enforcing, failure_percentage: 100 } });
  for (const h of fe.hosts) for (let i = 0; i < 10; i++) fe.d.report(h, h === 'h2' && i < 9 ? s500 : ok, 0);
  t.same(fe.d.onInterval(10).map((x) => [x.kind, 'type' in x ? x.type : '']), [['ejected', 'failure_percentage']]);
});

t.test('a passing active health check returns an ejected host (successful_active_health_check_uneject_host)', async (t) => {
  const { d } = detector(2, config({ consecutive5xx: 1 }));
  d.report('h0', s500, 0);
  t.same(d.healthCheckPassed('h0', 5), [{ kind: 'unejected', host: 'h0' }]);
  t.equal(d.activeEjections, 0);
  const off = detector(2, config({ consecutive5xx: 1, successfulActiveHealthCheckUnejectHost: false }));
  off.d.report('h0', s500, 0);
  t.same(off.d.healthCheckPassed('h0', 5), []);
  t.ok(off.d.isEjected('h0'));
});

t.test('hosts removed while ejected leave the active count; new hosts start clean', async (t) => {
  const { d } = detector(3, config({ consecutive5xx: 1 }));
  d.report('h0', s500, 0);
  t.equal(d.activeEjections, 1);
  d.setHosts(['h1', 'h2', 'h3']);
  t.equal(d.activeEjections, 0);
  t.same(d.report('h0', s500, 0), [], 'a removed host is not tracked');
  t.equal(d.monitor('h3')!.numEjections, 0);
});
