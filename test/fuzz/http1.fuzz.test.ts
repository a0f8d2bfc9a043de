/**
 * HTTP/1 request path fuzzing, bounded for CI: ~12 s or 600 connections against a real proxy
 * process in front of a recording upstream (test/fuzz/targets/http1.ts). The property: the proxy
 * stays up (/ready 200 after every batch), every connection ends after the client's FIN, no
 * request the proxy did not parse as its own (or rejected) reaches the upstream, and the proxy
 * sends the upstream nothing its parser rejects. Warnings (e.g. a 400 answered in place of a
 * forwarded pipelined request) are printed and do not fail the test.
 * The longer run: `npm run fuzz -- --target http1 --seconds 600` (fuzz/README.md).
 */
import t from 'tap';
import { describeFinding, type Finding } from './lib/findings';
import { ciSeconds, ciSeed } from './lib/settings';
import { runHttp1Fuzz } from './targets/http1';

t.test('the HTTP/1 request path survives malformed and ambiguous requests', async (t) => {
  const seed = ciSeed();
  t.comment(`http1 fuzz seed ${seed} (reproduce: FUZZ_SEED=${seed} npx tap dist/test/fuzz/http1.fuzz.test.js, or npm run fuzz -- --target http1 --seed ${seed} --index N)`);
  const failures: Finding[] = [];
  const summary = await runHttp1Fuzz({
    seed,
    maxCases: 600,
    seconds: ciSeconds(12),
    onFinding: (f) => {
      if (f.severity === 'failure') failures.push(f);
      else t.comment(describeFinding(f));
    },
    log: (line) => t.comment(line),
  });
  t.comment(
    `${summary.cases} connections in ${summary.seconds.toFixed(1)} s; upstream got ${summary.upstreamRequests} requests; proxy logged ${JSON.stringify(summary.proxyStatuses)}; findings ${JSON.stringify(summary.kinds)}`,
  );
  t.ok(summary.cases >= 30, `ran enough connections (${summary.cases})`);
  t.ok(summary.upstreamRequests > 0, 'some requests went through to the upstream');
  for (const f of failures) {
    t.fail(describeFinding(f), { detail: f.detail?.slice(0, 4000), input: JSON.stringify(f.input)?.slice(0, 4000) });
  }
  t.equal(summary.failures, 0, 'no smuggling, hang, upstream parse error or proxy death');
});
