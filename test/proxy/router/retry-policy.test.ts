import t from 'tap';
import type { ConfigIssue } from '../../../xds/config-error';
import { takeRetryHeaders } from '../../../proxy/router/retry-headers';
import {
  backoffMs,
  compileRetryPolicy,
  decideRetry,
  DEFAULT_RETRY_POLICY,
  isKeepAliveRace,
  parseRetryOn,
  RetryOn,
  RetryState,
  selectRetryHost,
  type AttemptEnd,
  type RetryPolicy,
  type RetryRequestHeaders,
} from '../../../proxy/router/retry-policy';
import { compileRouteConfiguration } from '../../../proxy/router/route-table';

function compile(config: Record<string, unknown>): { policy: RetryPolicy | undefined; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const policy = compileRetryPolicy(config, 'retry_policy', issues);
  return { policy, issues };
}

function policyOf(config: Record<string, unknown>): RetryPolicy {
  const { policy, issues } = compile(config);
  if (policy === undefined) throw new Error(JSON.stringify(issues));
  return policy;
}

const response = (status: number, headers: string[] = []): AttemptEnd => ({ kind: 'response', status, headers });
const CONNECT_FAILURE: AttemptEnd = { kind: 'connect_failure' };
const RESET: AttemptEnd = { kind: 'reset', requestStarted: true };
const RESET_BEFORE: AttemptEnd = { kind: 'reset', requestStarted: false };
const PER_TRY: AttemptEnd = { kind: 'per_try_timeout' };

t.test('compile: defaults are Envoy’s', async (t) => {
  const p = policyOf({ retry_on: '5xx' });
  t.equal(p.retryOn, RetryOn.FiveXx);
  t.equal(p.numRetries, 1);
  t.equal(p.perTryTimeoutMs, 0);
  t.equal(p.baseIntervalMs, 25);
  t.equal(p.maxIntervalMs, 250);
  t.equal(p.avoidPreviousHosts, false);
  t.equal(p.hostSelectionMaxAttempts, 1);
});

t.test('compile: every supported field', async (t) => {
  const p = policyOf({
    retry_on: ' 5xx, gateway-error,reset,connect-failure,retriable-4xx,refused-stream,retriable-status-codes,retriable-headers,reset-before-request ',
    num_retries: 3,
    per_try_timeout: 250,
    retry_back_off: { base_interval: 10, max_interval: 50 },
    retry_host_predicate: [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
      },
    ],
    host_selection_retry_max_attempts: 5,
    retriable_status_codes: [418, 429],
    retriable_headers: [{ name: 'x-retry-me', string_match: { exact: 'yes' } }],
  });
  t.equal(p.retryOn, 0b111111111, 'all nine conditions');
  t.equal(p.numRetries, 3);
  t.equal(p.perTryTimeoutMs, 250);
  t.equal(p.baseIntervalMs, 10);
  t.equal(p.maxIntervalMs, 50);
  t.equal(p.avoidPreviousHosts, true);
  t.equal(p.hostSelectionMaxAttempts, 5);
  t.same(p.retriableStatusCodes, [418, 429]);
  t.equal(p.retriableHeaders.length, 1);
  t.equal(policyOf({ retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }] }).avoidPreviousHosts, true, 'by name alone');
  t.equal(policyOf({ retry_back_off: { base_interval: 40 } }).maxIntervalMs, 400, 'max interval defaults to 10× base');
  t.equal(policyOf({ host_selection_retry_max_attempts: 1e9 }).hostSelectionMaxAttempts, 100, 'reselection is bounded');
});

t.test('compile: what meshlet does not implement is an issue naming its path', async (t) => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ retry_on: '5xx,envoy-ratelimited' }, 'retry_policy.retry_on', /"envoy-ratelimited" is not supported by meshlet/],
    [{ retry_on: 'envoy-ratelimited' }, 'retry_policy.retry_on', /not supported/],
    [{ retry_on: 'sometimes' }, 'retry_policy.retry_on', /unknown retry condition "sometimes"/],
    [{ per_try_idle_timeout: 100 }, 'retry_policy.per_try_idle_timeout', /not supported by meshlet/],
    [{ retry_priority: { name: 'x' } }, 'retry_policy.retry_priority', /not supported by meshlet/],
    [{ rate_limited_retry_back_off: {} }, 'retry_policy.rate_limited_retry_back_off', /not supported by meshlet/],
    [{ retriable_request_headers: [{ name: 'x' }] }, 'retry_policy.retriable_request_headers', /not supported by meshlet/],
    [{ retry_options_predicates: [{}] }, 'retry_policy.retry_options_predicates', /not supported by meshlet/],
    [{ retry_host_predicate: [{ name: 'envoy.retry_host_predicates.omit_canary_hosts' }] }, 'retry_policy.retry_host_predicate[0]', /omit_canary_hosts.*not supported/],
    [{ retry_back_off: { max_interval: 100 } }, 'retry_policy.retry_back_off.base_interval', /is required/],
    [{ retry_back_off: { base_interval: 0 } }, 'retry_policy.retry_back_off.base_interval', /greater than 0/],
    [{ retry_back_off: { base_interval: 100, max_interval: 50 } }, 'retry_policy.retry_back_off.max_interval', /greater than or equal to base_interval/],
    [{ num_retries: -1 }, 'retry_policy.num_retries', /negative/],
    [{ retriable_headers: [{ name: '' }] }, 'retry_policy.retriable_headers[0].name', /required/],
  ];
  for (const [config, path, message] of cases) {
    const { policy, issues } = compile(config);
    t.equal(policy, undefined, JSON.stringify(config));
    t.ok(issues.some((i) => i.path === path && message.test(i.message)), `${path}: ${JSON.stringify(issues)}`);
  }
});

t.test('compile: through the route table, the route’s policy replaces the virtual host’s', async (t) => {
  const table = compileRouteConfiguration(
    {
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          retry_policy: { retry_on: 'connect-failure' },
          per_request_buffer_limit_bytes: 100,
          routes: [
            { match: { path: '/own' }, route: { cluster: 'c', retry_policy: { retry_on: '5xx', num_retries: 2 } }, per_request_buffer_limit_bytes: 5 },
            { match: { path: '/inherited' }, route: { cluster: 'c' } },
          ],
        },
        { name: 'none', domains: ['none.example'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] },
      ],
    },
    { basePath: '' },
  );
  const req = (path: string, authority = 'x') => ({ method: 'GET', authority, path, query: '', headers: [], scheme: 'http' as const });
  const own = table.route(req('/own'))!;
  t.equal(own.retry!.retryOn, RetryOn.FiveXx);
  t.equal(own.retry!.numRetries, 2);
  t.equal(own.perRequestBufferLimitBytes, 5);
  const inherited = table.route(req('/inherited'))!;
  t.equal(inherited.retry!.retryOn, RetryOn.ConnectFailure);
  t.equal(inherited.perRequestBufferLimitBytes, 100);
  const none = table.route(req('/', 'none.example'))!;
  t.equal(none.retry, undefined, 'no policy: nothing compiled, nothing to do per request');
  t.equal(none.perRequestBufferLimitBytes, 16 * 1024, "meshlet's default buffer limit");

  let message = '';
  try {
    compileRouteConfiguration(
      { virtual_hosts: [{ name: 'vh', domains: ['*'], retry_policy: { retry_on: 'bogus' }, routes: [{ match: { prefix: '/' }, route: { cluster: 'c', retry_policy: { per_try_idle_timeout: 5 } } }] }] },
      { basePath: 'route_config' },
    );
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /route_config\.virtual_hosts\[0\]\.retry_policy\.retry_on: unknown retry condition "bogus"/);
  t.match(message, /route_config\.virtual_hosts\[0\]\.routes\[0\]\.route\.retry_policy\.per_try_idle_timeout: not supported by meshlet/);
});

t.test('parseRetryOn skips empty tokens and sorts the rest', async (t) => {
  t.same(parseRetryOn(',5xx,,reset ,'), { bits: RetryOn.FiveXx | RetryOn.Reset, notImplemented: [], unknown: [] });
  t.same(parseRetryOn('envoy-ratelimited,nope'), { bits: 0, notImplemented: ['envoy-ratelimited'], unknown: ['nope'] });
  t.same(parseRetryOn('unavailable,cancelled'), { bits: RetryOn.GrpcUnavailable | RetryOn.GrpcCancelled, notImplemented: [], unknown: [] }, 'the gRPC conditions');
});

t.test('decision table: how an attempt ended × retry_on → retry (and why) or not', async (t) => {
  const policy = policyOf({
    retriable_status_codes: [418],
    retriable_headers: [{ name: 'x-retry-me', string_match: { exact: 'yes' } }, { name: ':status', string_match: { exact: '299' } }],
  });
  type Row = [retryOn: string, end: AttemptEnd, expected: string | undefined];
  const rows: Row[] = [
    ['5xx', response(500), '5xx'],
    ['5xx', response(503), '5xx'],
    ['5xx', response(599), '5xx'],
    ['5xx', response(404), undefined],
    ['5xx', response(200), undefined],
    ['5xx', CONNECT_FAILURE, '5xx'],
    ['5xx', RESET, '5xx'],
    ['5xx', PER_TRY, '5xx'],
    ['gateway-error', response(500), undefined],
    ['gateway-error', response(502), 'gateway-error'],
    ['gateway-error', response(503), 'gateway-error'],
    ['gateway-error', response(504), 'gateway-error'],
    ['gateway-error', RESET, 'gateway-error'],
    ['gateway-error', CONNECT_FAILURE, 'gateway-error'],
    ['gateway-error', PER_TRY, 'gateway-error'],
    ['reset', response(503), undefined],
    ['reset', RESET, 'reset'],
    ['reset', RESET_BEFORE, 'reset'],
    ['reset', CONNECT_FAILURE, 'reset'],
    ['reset', PER_TRY, 'reset'],
    ['connect-failure', CONNECT_FAILURE, 'connect-failure'],
    ['connect-failure', RESET, undefined],
    ['connect-failure', RESET_BEFORE, undefined],
    ['connect-failure', response(503), undefined],
    ['connect-failure', PER_TRY, undefined],
    ['reset-before-request', RESET_BEFORE, 'reset-before-request'],
    ['reset-before-request', CONNECT_FAILURE, 'reset-before-request'],
    ['reset-before-request', RESET, undefined],
    ['reset-before-request', PER_TRY, undefined],
    ['retriable-4xx', response(409), 'retriable-4xx'],
    ['retriable-4xx', response(429), undefined],
    ['retriable-4xx', response(503), undefined],
    ['retriable-status-codes', response(418), 'retriable-status-codes'],
    ['retriable-status-codes', response(503), undefined],
    ['retriable-status-codes', RESET, undefined],
    ['retriable-headers', response(200, ['x-retry-me', 'yes']), 'retriable-headers'],
    ['retriable-headers', response(200, ['x-retry-me', 'no']), undefined],
    ['retriable-headers', response(299), 'retriable-headers'],
    ['retriable-headers', response(200), undefined],
    ['refused-stream', RESET, undefined],
    ['refused-stream', response(503), undefined],
    ['', response(503), undefined],
    ['', RESET, undefined],
    ['connect-failure,retriable-status-codes', response(418), 'retriable-status-codes'],
    ['connect-failure,retriable-status-codes', CONNECT_FAILURE, 'connect-failure'],
    ['reset-before-request,reset', RESET_BEFORE, 'reset-before-request'],
    ['5xx,connect-failure', CONNECT_FAILURE, 'connect-failure'],
  ];
  for (const [retryOn, end, expected] of rows) {
    const state = new RetryState(policy, { retryOn: parseRetryOn(retryOn).bits, maxRetries: undefined, retriableStatusCodes: [] }, true);
    const decision = decideRetry(policy, state, end, 0.5);
    const label = `${retryOn || '(none)'} × ${end.kind}${end.kind === 'response' ? ` ${end.status}` : ''}${end.kind === 'reset' ? (end.requestStarted ? ' (started)' : ' (before request)') : ''}`;
    if (expected === undefined) t.same(decision, { retry: false, reason: 'not_retriable' }, `${label} → no`);
    else t.same(decision, { retry: true, delayMs: 12, condition: expected }, `${label} → ${expected}`);
  }
});

t.test('decision: the limit, the body, and the headers of an internal client', async (t) => {
  const policy = policyOf({ retry_on: '5xx', num_retries: 2 });
  const state = new RetryState(policy, undefined, true);
  t.equal(state.retriesLeft, 2);
  t.match(decideRetry(policy, state, response(503), 0), { retry: true, delayMs: 0, condition: '5xx' });
  state.consume();
  t.match(decideRetry(policy, state, response(503), 0.999), { retry: true, delayMs: 74, condition: '5xx' }, '2nd retry: [0, 75)');
  state.consume();
  t.same(decideRetry(policy, state, response(503), 0.5), { retry: false, reason: 'retry_limit_exceeded', condition: '5xx' });
  t.same(decideRetry(policy, state, response(200), 0.5), { retry: false, reason: 'not_retriable' }, 'a success is not a limit exceeded');

  const unreplayable = new RetryState(policy, undefined, false);
  t.same(decideRetry(policy, unreplayable, response(503), 0.5), { retry: false, reason: 'body_not_replayable', condition: '5xx' });

  const headers = (h: Partial<RetryRequestHeaders>): RetryRequestHeaders => ({ retryOn: 0, maxRetries: undefined, retriableStatusCodes: [], ...h });
  const fromHeader = new RetryState(DEFAULT_RETRY_POLICY, headers({ retryOn: RetryOn.ConnectFailure, maxRetries: 4 }), true);
  t.equal(fromHeader.retryOn, RetryOn.ConnectFailure, 'x-envoy-retry-on enables retries on a route without policy');
  t.equal(fromHeader.retriesLeft, 4, 'x-envoy-max-retries');
  t.equal(new RetryState(DEFAULT_RETRY_POLICY, headers({ maxRetries: 4 }), true).enabled, false, 'max retries alone enables nothing');
  const merged = new RetryState(policy, headers({ retryOn: RetryOn.RetriableStatusCodes, retriableStatusCodes: [420] }), true);
  t.equal(merged.retryOn, RetryOn.FiveXx | RetryOn.RetriableStatusCodes, 'header conditions add to the policy’s');
  t.equal(merged.retriesLeft, 2, 'the policy’s count without x-envoy-max-retries');
  t.match(decideRetry(policy, merged, response(420), 0), { retry: true, condition: 'retriable-status-codes' });
  t.equal(new RetryState(policy, headers({ maxRetries: 0 }), true).retriesLeft, 0, 'x-envoy-max-retries: 0 disables');
});

t.test('backoff: fully jittered exponential, capped', async (t) => {
  const p = { baseIntervalMs: 25, maxIntervalMs: 250 };
  t.equal(backoffMs(p, 1, 0), 0);
  t.equal(backoffMs(p, 1, 0.9999), 24, '1st retry: [0, 25)');
  t.equal(backoffMs(p, 2, 0.9999), 74, '2nd: [0, 75)');
  t.equal(backoffMs(p, 3, 0.9999), 174, '3rd: [0, 175)');
  t.equal(backoffMs(p, 4, 0.9999), 250, '4th: capped at max_interval');
  t.equal(backoffMs(p, 1000, 0.5), 250, 'no overflow for large retry numbers');
  t.equal(backoffMs({ baseIntervalMs: 100, maxIntervalMs: 100 }, 1, 0.5), 50);
});

t.test('previous_hosts: re-pick while the pick was tried, up to the limit, then keep the last', async (t) => {
  const picker = (order: string[]) => {
    let i = 0;
    return () => order[i++ % order.length];
  };
  t.equal(selectRetryHost(picker(['a', 'b', 'c']), ['a'], 1), 'b');
  t.equal(selectRetryHost(picker(['a', 'a', 'c']), ['a'], 1), 'a', 'out of attempts: the last pick');
  t.equal(selectRetryHost(picker(['a', 'a', 'c']), ['a'], 2), 'c');
  t.equal(selectRetryHost(picker(['a', 'b', 'c']), ['a', 'b'], 5), 'c');
  t.equal(selectRetryHost(picker(['a']), ['a'], 100), 'a', 'bounded when every host was tried');
  t.equal(selectRetryHost(() => undefined, ['a'], 3), undefined, 'no host at all');
});

t.test('keep-alive race: idempotent, bodiless, reset after writing on a reused connection, once', async (t) => {
  const rows: [AttemptEnd, string, boolean, boolean, boolean, boolean][] = [
    [RESET, 'GET', false, true, false, true],
    [RESET, 'HEAD', false, true, false, true],
    [RESET, 'DELETE', false, true, false, true],
    [RESET, 'PUT', false, true, false, true],
    [RESET, 'OPTIONS', false, true, false, true],
    [RESET, 'POST', false, true, false, false],
    [RESET, 'PATCH', false, true, false, false],
    [RESET, 'PUT', true, true, false, false],
    [RESET, 'GET', false, false, false, false],
    [RESET, 'GET', false, true, true, false],
    [RESET_BEFORE, 'GET', false, true, false, false],
    [CONNECT_FAILURE, 'GET', false, true, false, false],
    [response(503), 'GET', false, true, false, false],
    [PER_TRY, 'GET', false, true, false, false],
  ];
  for (const [end, method, hasBody, reused, already, expected] of rows) {
    t.equal(isKeepAliveRace(end, method, hasBody, reused, already), expected, `${end.kind} ${method} body=${hasBody} reused=${reused} already=${already}`);
  }
});

t.test('retry request headers are taken out of the request, parsed as Envoy does', async (t) => {
  const plain = ['host', 'a', 'x-envoy-original-path', '/x', 'accept', '*/*'];
  t.equal(takeRetryHeaders(plain), undefined);
  t.same(plain, ['host', 'a', 'x-envoy-original-path', '/x', 'accept', '*/*'], 'untouched');

  const headers = [
    'host', 'a',
    'x-envoy-retry-on', '5xx, connect-failure,bogus',
    'accept', '*/*',
    'x-envoy-max-retries', ' 3 ',
    'x-envoy-retriable-status-codes', '418, 429,x',
    'x-envoy-upstream-rq-per-try-timeout-ms', '100',
    'x-envoy-retry-on', 'reset',
  ];
  t.same(takeRetryHeaders(headers), {
    retryOn: RetryOn.FiveXx | RetryOn.ConnectFailure | RetryOn.Reset,
    maxRetries: 3,
    retriableStatusCodes: [418, 429],
  });
  t.same(headers, ['host', 'a', 'accept', '*/*'], 'every consumed header removed, the rest in order');
  t.same(takeRetryHeaders(['x-envoy-max-retries', 'many']), { retryOn: 0, maxRetries: undefined, retriableStatusCodes: [] });
});
