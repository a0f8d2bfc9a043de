/**
 * Config decoder fuzzing, bounded for CI: ~12 s or 6000 inputs. Inputs are mutations of valid
 * bootstraps and xDS resources (test/fuzz/targets/config-decoder.ts); the property is that
 * parseBootstrap / loadBootstrapFile / decodeJson / decodeResource (and the parsers after them)
 * either succeed or reject with ConfigError, never throw anything else, hang, or leave an
 * unhandled rejection. Slow inputs (> 200 ms) are printed but do not fail the test.
 * The longer run: `npm run fuzz -- --target config --seconds 600` (fuzz/README.md).
 */
import t from 'tap';
import { describeFinding, type Finding } from './lib/findings';
import { ciSeconds, ciSeed } from './lib/settings';
import { runConfigFuzz } from './targets/config-runner';

t.test('config decoders reject bad input with ConfigError only', async (t) => {
  const seed = ciSeed();
  t.comment(`config fuzz seed ${seed} (reproduce: FUZZ_SEED=${seed} npx tap dist/test/fuzz/config-decoder.fuzz.test.js, or npm run fuzz -- --target config --seed ${seed} --index N)`);
  const failures: Finding[] = [];
  const summary = await runConfigFuzz({
    seed,
    maxInputs: 6000,
    seconds: ciSeconds(12),
    hangMs: 10_000,
    onFinding: (f) => {
      if (f.severity === 'failure') failures.push(f);
      else t.comment(describeFinding(f));
    },
    log: (line) => t.comment(line),
  });
  t.comment(
    `${summary.inputs} inputs in ${summary.seconds.toFixed(1)} s (${summary.accepted} accepted, ${summary.rejected} rejected, ${summary.slow} slow); ${summary.seedsAccepted}`,
  );
  t.ok(summary.inputs >= 200, `ran enough inputs (${summary.inputs})`);
  for (const f of failures) {
    t.fail(describeFinding(f), { stack: f.detail, input: JSON.stringify(f.input)?.slice(0, 4000) });
  }
  t.same(summary.signatures, {}, 'no input threw anything but ConfigError, hung or crashed the worker');
});
