import t from 'tap';
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { MESHLET_BIN } from '../helpers/proxy-process';

// `npm start` runs `meshlet demo` (control plane + gateway over xDS) on the examples' fixed loopback
// ports; `--static` runs the proxy from the static example bootstrap alone.
for (const args of [['demo'], ['demo', '--static']]) t.test(`${args.join(' ')} serves the example mesh with weights 1/2/7 and stops on SIGINT`, async (t) => {
  const child = spawn(process.execPath, [MESHLET_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
  const deadline = Date.now() + 15_000;
  while (!err.includes('meshlet demo is running')) {
    if (child.exitCode !== null || Date.now() > deadline) t.fail(`demo did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(err, 'curl http://127.0.0.1:10000/echo/hello', 'prints what to try');
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100; i++) {
    const res = await request('http://127.0.0.1:10000/echo/x');
    const server = (await res.body.json() as { server: string }).server;
    counts[server] = (counts[server] ?? 0) + 1;
  }
  t.same(counts, { 'echo-1': 10, 'echo-2': 20, 'echo-3': 70 });
  const ready = await request('http://127.0.0.1:9901/ready');
  t.equal(await ready.body.text(), 'LIVE\n');
  child.kill('SIGINT');
  t.equal(await exited, 0);
});
