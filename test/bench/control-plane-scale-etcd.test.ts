import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseWithInfinity } from '../../bench/control-plane-scale/json';
import type { ScaleResult } from '../../bench/control-plane-scale/scale-summary';

const BENCH_COMMAND = path.join(__dirname, '..', '..', 'bench', 'bench-command.js');

// The etcd mode end to end, as `npm run bench -- --control-plane-scale --registry etcd` runs it, at
// a size that takes seconds: its own etcd, the document and registrations, the control plane on
// --registry, 5 clients and one edit moving a registration. Needs etcd (test/setup/ensure-etcd).
t.test('--control-plane-scale --registry etcd: every client gets the mesh and the edit', async (t) => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'meshlet-bench-etcd-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const args = ['--control-plane-scale', '--registry', 'etcd', '--clients', '5', '--services', '20', '--changes', '1', '--budget', '18s', '--out', out];
  const script = `require(${JSON.stringify(BENCH_COMMAND)}).benchCommand(${JSON.stringify(args)}).then((c) => process.exit(c))`;
  // SIGTERM on timeout: the harness' hooks then kill etcd, the control plane and the clients.
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 25_000 });
  t.equal(r.status, 0, `exit 0\n${r.stderr}`);
  t.same(
    readdirSync(out).map((f) => f.replace(/^\d{4}-\d{2}-\d{2}-/, '<date>-')).sort(),
    ['<date>-control-plane-scale-etcd.json', '<date>-control-plane-scale-etcd.md'],
    'wrote <date>-control-plane-scale-etcd.{json,md}',
  );
  const json = readdirSync(out).find((f) => f.endsWith('.json'));
  if (!json) return;
  const result = parseWithInfinity<ScaleResult>(readFileSync(path.join(out, json), 'utf8'));
  t.notOk(result.error, `no error: ${result.error}`);
  t.match(result.registry, { kind: 'etcd', members: 1, registrations: 100, version: /^3\./ });
  t.equal(result.worker?.clients, 5);
  t.same(result.summary?.initialSync.missing, 0, 'every client got its initial configuration');
  t.equal(result.worker?.changes.length, 1, 'the edit was timed');
  const change = result.worker?.changes[0];
  t.equal(change?.convergenceMs.length, 5);
  t.ok(change?.convergenceMs.every((ms) => typeof ms === 'number' && ms >= 0), `every client saw the edit: ${JSON.stringify(change?.convergenceMs)}`);
  t.ok(typeof change?.writeMs === 'number', 'the transaction was timed');
  t.equal(result.summary?.rebuildMs.filter((ms) => ms !== null).length, 1, 'its rebuild was found in the control plane log');
  const md = readFileSync(path.join(out, json.replace(/\.json$/, '.md')), 'utf8');
  t.match(md, /serving the mesh from \*\*etcd 3\./);
  t.match(r.stdout, /^mesh from etcd 3\.\S+ \(1 member\)/m);
  t.match(r.stderr, /clients: edit 1\/1 .*: 5\/5 clients/);
});
