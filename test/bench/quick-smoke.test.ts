import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchResult } from '../../bench/result-types';

const BENCH_COMMAND = path.join(__dirname, '..', '..', 'bench', 'bench-command.js');

// The whole harness end to end, in its own process so its stdout table does not mix with TAP:
// meshlet and direct, one round, closed loop. Needs a built, working meshlet proxy.
t.test('--quick measures meshlet and direct', async (t) => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-smoke-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const script = `require(${JSON.stringify(BENCH_COMMAND)}).benchCommand(['--quick', '--out', ${JSON.stringify(out)}]).then((c) => process.exit(c))`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 90_000 });
  t.equal(r.status, 0, `exit 0\n${r.stderr}`);
  const json = readdirSync(out).find((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f));
  t.ok(json, 'wrote <date>.json');
  if (!json) return;
  const result = JSON.parse(readFileSync(path.join(out, json), 'utf8')) as BenchResult;
  t.same(result.scenarios.map((s) => s.name), ['closed']);
  const closed = result.scenarios[0];
  const requests = (system: string): number => closed.summary.find((s) => s.system === system)?.requests ?? 0;
  t.ok(requests('meshlet') > 0, `meshlet answered requests (skipped: ${JSON.stringify(closed.skippedSystems)})`);
  t.ok(requests('direct') > 0, 'direct answered requests');
  t.ok(readdirSync(out).some((f) => f.endsWith('.md')), 'wrote the Markdown report');
  t.match(r.stdout, /Closed loop, 50 connections/);
});
