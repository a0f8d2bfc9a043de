import t from 'tap';
import { createServer } from 'node:net';
import {
  checkTransition,
  HealthChecker,
  INITIAL_CHECK_STATE,
  nextCheckDelayMs,
  receiveMatches,
  statusInRanges,
  type CheckedHost,
  type CheckResult,
  type CheckState,
  type HealthCheckConfig,
  type HealthTransition,
} from '../../../proxy/cluster/health-checker';
import { HealthFlag, healthFlagsToString } from '../../../proxy/cluster/health-flags';
import { ControllableUpstream } from './fixtures/controllable-upstream';

const thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 };

/** Runs results through the state machine from `state`; returns each step's [failed, transition]. */
function run(state: CheckState, results: CheckResult[]): { state: CheckState; steps: [boolean, HealthTransition][] } {
  const steps: [boolean, HealthTransition][] = [];
  for (const r of results) {
    const next = checkTransition(state, r, thresholds);
    state = next.state;
    steps.push([state.failed, next.transition]);
  }
  return { state, steps };
}

t.test('a new host starts failed; its first passing check makes it healthy at once', async (t) => {
  const { steps } = run(INITIAL_CHECK_STATE, ['success']);
  t.same(steps, [[false, 'changed']]);
  const failedFirst = run(INITIAL_CHECK_STATE, ['network_failure', 'success', 'success']);
  t.same(failedFirst.steps, [
    [true, 'changed'], // the first result always clears PENDING_ACTIVE_HC
    [true, 'change_pending'],
    [false, 'changed'], // then healthy_threshold (2) successes
  ]);
});

t.test('a healthy host turns unhealthy after unhealthy_threshold network failures in a row', async (t) => {
  const healthy = run(INITIAL_CHECK_STATE, ['success']).state;
  const { steps, state } = run(healthy, ['network_failure', 'network_timeout', 'success', 'network_failure', 'network_failure', 'network_timeout']);
  t.same(steps, [
    [false, 'change_pending'],
    [false, 'change_pending'],
    [false, 'unchanged'], // a success resets the count
    [false, 'change_pending'],
    [false, 'change_pending'],
    [true, 'changed'],
  ]);
  t.ok(state.timedOut, 'the failing check timed out: ACTIVE_HC_TIMEOUT');
  const back = run(state, ['success']);
  t.same(back.steps, [[true, 'change_pending']], 'not the first check any more: healthy_threshold applies');
  t.ok(back.state.timedOut, 'as in Envoy, the timeout flag stays until the host is healthy again');
  t.notOk(run(back.state, ['success']).state.timedOut, 'healthy: timeout flag cleared');
});

t.test('an HTTP status neither expected nor retriable fails a healthy host at once; retriable ones take the threshold', async (t) => {
  const healthy = run(INITIAL_CHECK_STATE, ['success']).state;
  t.same(run(healthy, ['active_failure']).steps, [[true, 'changed']]);
  t.same(run(healthy, ['retriable_failure', 'retriable_failure', 'retriable_failure']).steps, [
    [false, 'change_pending'],
    [false, 'change_pending'],
    [true, 'changed'],
  ]);
});

const base: HealthCheckConfig = {
  timeoutMs: 1000,
  intervalMs: 100,
  initialJitterMs: 0,
  intervalJitterMs: 0,
  intervalJitterPercent: 0,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
  reuseConnection: true,
  noTrafficIntervalMs: 60_000,
  noTrafficHealthyIntervalMs: 50_000,
  unhealthyIntervalMs: 200,
  unhealthyEdgeIntervalMs: 300,
  healthyEdgeIntervalMs: 400,
  http: undefined,
  tcp: { send: undefined, receive: [] },
};

t.test('the next check: interval, unhealthy_interval, edge intervals, no_traffic_interval, jitter', async (t) => {
  t.equal(nextCheckDelayMs(base, true, 'unchanged', true), 100);
  t.equal(nextCheckDelayMs(base, true, 'changed', true), 100);
  t.equal(nextCheckDelayMs(base, true, 'change_pending', true), 400, 'healthy_edge_interval');
  t.equal(nextCheckDelayMs(base, false, 'unchanged', true), 200, 'unhealthy_interval');
  t.equal(nextCheckDelayMs(base, false, 'change_pending', true), 300, 'unhealthy_edge_interval');
  t.equal(nextCheckDelayMs(base, true, 'unchanged', false), 50_000, 'no traffic yet, healthy: no_traffic_healthy_interval');
  t.equal(nextCheckDelayMs(base, false, 'unchanged', false), 60_000, 'no traffic yet: no_traffic_interval');
  const jittered = { ...base, intervalJitterMs: 50, intervalJitterPercent: 10 };
  t.equal(nextCheckDelayMs(jittered, true, 'unchanged', true, () => 0.5), 100 + 5 + 25);
  t.equal(nextCheckDelayMs({ ...base, intervalMs: 0 }, true, 'unchanged', true), 1, 'never 0');
});

t.test('status ranges are half-open; TCP receive blocks match in order, not necessarily contiguous', async (t) => {
  t.ok(statusInRanges(200, [[200, 201]]));
  t.notOk(statusInRanges(201, [[200, 201]]));
  t.ok(statusInRanges(204, [[200, 201], [204, 205]]));
  t.ok(receiveMatches(Buffer.from('xxPONGyyOK'), [Buffer.from('PONG'), Buffer.from('OK')]));
  t.notOk(receiveMatches(Buffer.from('OK PONG'), [Buffer.from('PONG'), Buffer.from('OK')]));
  t.ok(receiveMatches(Buffer.from('anything'), []));
});

t.test('health-flag strings as Envoy prints them', async (t) => {
  t.equal(healthFlagsToString(0), 'healthy');
  t.equal(healthFlagsToString(HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK), '/failed_active_hc/failed_outlier_check');
  t.equal(healthFlagsToString(HealthFlag.FAILED_EDS_HEALTH), '/failed_eds_health');
  t.equal(healthFlagsToString(HealthFlag.FAILED_ACTIVE_HC | HealthFlag.ACTIVE_HC_TIMEOUT), '/failed_active_hc/active_hc_timeout');
});

function hostOn(port: number): CheckedHost {
  return { key: `127.0.0.1:${port}`, endpoint: { address: '127.0.0.1', port }, healthFlags: 0 };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const httpCheck: HealthCheckConfig = {
  ...base,
  intervalMs: 30,
  unhealthyIntervalMs: 30,
  unhealthyEdgeIntervalMs: 30,
  healthyEdgeIntervalMs: 30,
  timeoutMs: 200,
  tcp: undefined,
  http: { path: '/healthz', host: undefined, method: 'GET', expectedStatuses: [[200, 201]], retriableStatuses: [], headersToAdd: [['x-hc', 'yes', false]], headersToRemove: [] },
};

t.test('HTTP checks on a real upstream: first round, failure, recovery, own connections', async (t) => {
  const up = await ControllableUpstream.create('a');
  t.teardown(() => up.stop());
  const host = hostOn(up.port);
  const results: [CheckResult, HealthTransition][] = [];
  let attempts = 0;
  const checker = new HealthChecker(httpCheck, 'svc', {
    hasTraffic: () => true,
    onAttempt: () => attempts++,
    onResult: (_h, result, transition) => results.push([result, transition]),
  });
  t.teardown(() => checker.stop());
  checker.setHosts([host]);
  t.equal(healthFlagsToString(host.healthFlags), '/failed_active_hc/pending_active_hc', 'starts failed and pending');
  await checker.firstRound();
  t.equal(host.healthFlags, 0, 'healthy after the first passing check');
  t.same(results[0], ['success', 'changed']);

  up.byPath.set('/healthz', { status: 503 });
  await until(() => (host.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0);
  t.same(results.at(-1), ['active_failure', 'changed'], 'a 503 fails it at once');
  up.byPath.set('/healthz', { status: 200 });
  const before = results.length;
  await until(() => host.healthFlags === 0);
  t.same(
    results.slice(before).map((r) => r[1]),
    ['change_pending', 'changed'],
    'healthy again after healthy_threshold (2) passing checks',
  );

  up.byPath.set('/healthz', { hang: true });
  await until(() => (host.healthFlags & HealthFlag.FAILED_ACTIVE_HC) !== 0);
  t.equal(healthFlagsToString(host.healthFlags), '/failed_active_hc/active_hc_timeout', 'timeouts take the threshold, then flag the timeout');
  t.ok(attempts >= results.length);
  t.equal(up.countExcept('/healthz'), 0, 'only the health check path was requested');
  checker.stop();
  const stoppedAt = up.count('/healthz');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(up.count('/healthz'), stoppedAt, 'no check after stop()');
});

t.test('TCP connect-only checks: a stopped port fails after the threshold, a restarted one passes', async (t) => {
  const up = await ControllableUpstream.createRestartable('tcp');
  t.teardown(() => up.stop());
  const host = hostOn(up.port);
  const checker = new HealthChecker({ ...httpCheck, http: undefined, tcp: { send: undefined, receive: [] } }, 'svc', {
    hasTraffic: () => true,
    onAttempt: () => {},
    onResult: () => {},
  });
  t.teardown(() => checker.stop());
  checker.setHosts([host]);
  await checker.firstRound();
  t.equal(host.healthFlags, 0);
  await up.stop();
  await until(() => host.healthFlags !== 0);
  t.equal(healthFlagsToString(host.healthFlags), '/failed_active_hc');
  await up.start();
  await until(() => host.healthFlags === 0);
  t.pass('healthy again once the port listens');
});

t.test('TCP send/receive: the response must contain the expected blocks', async (t) => {
  let reply = 'PONG';
  const server = createServer((socket) => socket.on('data', () => socket.write(reply)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const host = hostOn(port);
  const checker = new HealthChecker(
    { ...httpCheck, http: undefined, timeoutMs: 100, tcp: { send: Buffer.from('PING'), receive: [Buffer.from('PO'), Buffer.from('NG')] } },
    'svc',
    { hasTraffic: () => true, onAttempt: () => {}, onResult: () => {} },
  );
  t.teardown(() => checker.stop());
  checker.setHosts([host]);
  await checker.firstRound();
  t.equal(host.healthFlags, 0);
  reply = 'NOPE';
  await until(() => host.healthFlags !== 0);
  t.equal(healthFlagsToString(host.healthFlags), '/failed_active_hc/active_hc_timeout', 'no match: the check times out');
});

t.test('removed hosts stop being checked; firstRound resolves for hosts removed before their check', async (t) => {
  const up = await ControllableUpstream.create('r');
  t.teardown(() => up.stop());
  const a = hostOn(up.port);
  const checker = new HealthChecker({ ...httpCheck, initialJitterMs: 10_000 }, 'svc', { hasTraffic: () => true, onAttempt: () => {}, onResult: () => {} });
  t.teardown(() => checker.stop());
  checker.setHosts([a]);
  const first = checker.firstRound();
  checker.setHosts([]);
  await first;
  t.equal(up.count(), 0, 'never checked');
});
