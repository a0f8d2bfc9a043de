import t from 'tap';
import { allowedRetries, CircuitBreakers, DEFAULT_THRESHOLDS, type BreakerContext } from '../../../proxy/cluster/circuit-breakers';

function context(over: Partial<{ pending: number; connections: number; capacity: number }> = {}) {
  const state = { pending: 0, connections: 0, capacity: Infinity, ...over };
  const cxOverflow = { value: 0 };
  const ctx: BreakerContext = {
    pendingRequests: () => state.pending,
    connections: () => state.connections,
    connectionCapacity: () => state.capacity,
    stats: { cxOverflow },
  };
  return { ctx, state, cxOverflow };
}

t.test("Envoy's defaults: 1024 connections, pending, requests; 3 retries", async (t) => {
  t.same(DEFAULT_THRESHOLDS, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  const b = new CircuitBreakers();
  let acquired = 0;
  for (let i = 0; i < 1024; i++) if (b.tryAcquireRequest()) acquired++;
  t.equal(acquired, 1024);
  t.notOk(b.tryAcquireRequest(), 'the 1025th is refused');
  b.releaseRequest();
  t.ok(b.tryAcquireRequest(), 'released: one more');
});

t.test('max_requests: refused at the limit, released slots come back', async (t) => {
  const b = new CircuitBreakers({ ...DEFAULT_THRESHOLDS, maxRequests: 2 });
  t.ok(b.tryAcquireRequest());
  t.ok(b.tryAcquireRequest());
  t.notOk(b.tryAcquireRequest());
  t.equal(b.gauges().rqOpen, 1);
  b.releaseRequest();
  t.equal(b.gauges().rqOpen, 0);
  t.equal(b.gauges().remainingRq, 1);
  t.ok(b.tryAcquireRequest());
});

t.test('max_pending_requests: a request that has to wait for a connection is refused when enough already wait', async (t) => {
  const { ctx, state, cxOverflow } = context({ capacity: 2 });
  const b = new CircuitBreakers({ ...DEFAULT_THRESHOLDS, maxPendingRequests: 1 }, ctx);
  t.ok(b.tryAcquireRequest(), '1st: a connection is free');
  t.ok(b.tryAcquireRequest(), '2nd: a connection is free');
  t.equal(cxOverflow.value, 0);
  t.ok(b.tryAcquireRequest(), '3rd: waits (nothing pending yet)');
  t.equal(cxOverflow.value, 1, 'the connection limit made it wait: upstream_cx_overflow');
  state.pending = 1;
  t.notOk(b.tryAcquireRequest(), '4th: would wait behind one pending request: refused');
  t.equal(b.gauges().rqPendingOpen, 1);

  // With the host known, the wait is the host's: connections busy at its pool size.
  const h = context();
  const hb = new CircuitBreakers({ ...DEFAULT_THRESHOLDS, maxPendingRequests: 0 }, h.ctx);
  t.ok(hb.tryAcquireRequest({ activeRequests: 0, connectionLimit: 1 }), 'the host has a free connection');
  t.notOk(hb.tryAcquireRequest({ activeRequests: 1, connectionLimit: 1 }), 'max_pending_requests 0: no request may wait');
  t.equal(h.cxOverflow.value, 1);
});

t.test('max_connections bounds the cluster-wide estimate too', async (t) => {
  const { ctx, cxOverflow } = context();
  const b = new CircuitBreakers({ ...DEFAULT_THRESHOLDS, maxConnections: 1, maxPendingRequests: 0 }, ctx);
  t.ok(b.tryAcquireRequest());
  t.notOk(b.tryAcquireRequest(), 'one connection, busy: the request would wait, and none may');
  t.equal(cxOverflow.value, 1);
});

t.test('max_retries', async (t) => {
  const b = new CircuitBreakers({ ...DEFAULT_THRESHOLDS, maxRetries: 2 });
  t.ok(b.tryAcquireRetry());
  t.ok(b.tryAcquireRetry());
  t.notOk(b.tryAcquireRetry());
  t.equal(b.gauges().rqRetryOpen, 1);
  b.releaseRetry();
  t.ok(b.tryAcquireRetry());
});

t.test('retry budget: max(min_retry_concurrency, budget_percent × active requests), replacing max_retries', async (t) => {
  const budget = { ...DEFAULT_THRESHOLDS, maxRetries: 1000, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } };
  t.equal(allowedRetries(budget, 0), 3, 'the minimum concurrency with nothing active');
  t.equal(allowedRetries(budget, 10), 3, '20 % of 10 = 2 < 3');
  t.equal(allowedRetries(budget, 100), 20);
  t.equal(allowedRetries(budget, 104), 20, 'rounded down, as Envoy converts to an integer');
  t.equal(allowedRetries({ ...budget, retryBudget: { budgetPercent: 50, minRetryConcurrency: 0 } }, 7), 3);
  t.equal(allowedRetries(DEFAULT_THRESHOLDS, 1000), 3, 'without a budget: max_retries');

  const b = new CircuitBreakers(budget);
  for (let i = 0; i < 50; i++) b.tryAcquireRequest();
  let retries = 0;
  while (b.tryAcquireRetry() && retries < 100) retries++;
  t.equal(retries, 10, '20 % of 50 active requests');
  t.equal(b.gauges().remainingRetries, 0);
  for (let i = 0; i < 50; i++) b.tryAcquireRequest();
  t.ok(b.tryAcquireRetry(), 'more active requests, a bigger budget');
});

t.test('gauges: open flags and remaining counts', async (t) => {
  const { ctx, state } = context();
  const b = new CircuitBreakers({ maxConnections: 2, maxPendingRequests: 3, maxRequests: 4, maxRetries: 1 }, ctx);
  state.connections = 2;
  state.pending = 1;
  b.tryAcquireRequest();
  t.same(b.gauges(), {
    cxOpen: 1,
    rqPendingOpen: 0,
    rqOpen: 0,
    rqRetryOpen: 0,
    remainingCx: 0,
    remainingPending: 2,
    remainingRq: 3,
    remainingRetries: 1,
  });
});
