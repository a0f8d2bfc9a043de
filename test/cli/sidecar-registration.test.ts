/**
 * `meshlet proxy --mode sidecar --register etcd://...`: the sidecar registers its pod's endpoint
 * itself. Real processes (etcd, `meshlet control-plane --registry`, the sidecar): the key appears
 * only once the sidecar is LIVE, holds the endpoint's JSON and comes back to the sidecar through
 * the control plane; SIGTERM (and /quitquitquit) deletes it first, while the proxy still drains
 * an in-flight request; kill -9 leaves it to its lease's TTL; an etcd out of reach is retried
 * while the proxy serves. Then, in this process: the option resolution (flags, environment,
 * errors), the retry/stop logic, and the proxy's lifecycle hooks it relies on.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { request } from 'undici';
import { parse } from 'yaml';
import { resolveModeOptions } from '../../cli/modes/mode-options';
import { resolveRegistration } from '../../cli/modes/registration-options';
import { SidecarRegistration, type RegistrationTiming } from '../../cli/modes/sidecar-registration';
import { parseBootstrap } from '../../proxy/config/bootstrap';
import { createLogger } from '../../proxy/log';
import { ProxyServer } from '../../proxy/server';
import type { EndpointRegistration, EndpointRegistrationOptions } from '../../xds/control-plane/registry/etcd-registration';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane-process';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { bootstrapYaml, catchAllVirtualHost, freePort, MESHLET_BIN, staticCluster, writeTempFile } from '../helpers/proxy-process';
import { untilProxyHost } from '../helpers/proxy-clusters';
import { startTcpRelay } from '../helpers/tcp-relay';

const TTL_S = 2;
/** The mode flags' variables, cleared so that the runner's environment cannot leak into a test. */
const CLEAN_ENV = Object.fromEntries(
  ['MESHLET_XDS_ADDRESS', 'MESHLET_SERVICE', 'MESHLET_NODE_ID', 'MESHLET_ZONE', 'MESHLET_REGION', 'MESHLET_REGISTER', 'MESHLET_REGISTER_PREFIX', 'MESHLET_POD_IP', 'MESHLET_REGISTER_PORT', 'MESHLET_REGISTER_VERSION', 'MESHLET_REGISTER_TTL'].map((v) => [v, '']),
);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 10 ms until it returns a value other than undefined; rejects after `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, text: await res.body.text() };
}

/** /ready's status and body, or 'down' when admin does not answer. */
function readiness(adminUrl: string): Promise<string> {
  return get(`${adminUrl}/ready`).then(
    (r) => `${r.status} ${r.text.trim()}`,
    () => 'down',
  );
}

interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

interface Sidecar {
  readonly child: ChildProcess;
  readonly adminUrl: string;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  logs(): LogLine[];
  stderr(): string;
}

/** `meshlet proxy --mode sidecar` (info logs, no health listener) in the background, SIGKILLed when the test ends. */
async function startSidecar(t: Test, args: readonly string[]): Promise<Sidecar> {
  const adminPort = await freePort();
  const child = spawn(
    process.execPath,
    [MESHLET_BIN, 'proxy', '--mode', 'sidecar', '--log-level', 'info', '--admin-port', String(adminPort), '--health-port', '0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...CLEAN_ENV } },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await until('sidecar admin answers', 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}: ${stderr}`);
    return (await readiness(adminUrl)) === 'down' ? undefined : true;
  });
  const logs = () =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  return { child, adminUrl, exited, logs, stderr: () => stderr };
}

/** Index of the first log line with this message, -1 if none. */
function logIndex(sidecar: Sidecar, msg: string): number {
  return sidecar.logs().findIndex((l) => l.msg === msg);
}

/** An app whose /slow answers after `delayMs`, counting the requests it holds. */
async function startSlowApp(delayMs: number): Promise<{ server: Server; port: number; holding: () => number }> {
  let holding = 0;
  const server = createServer((req, res) => {
    holding++;
    setTimeout(() => {
      holding--;
      res.end(`slow ${req.url}`);
    }, delayMs);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { server, port, holding: () => holding };
}

// ---- end to end ------------------------------------------------------------------------------

t.test('against real etcd and a real control plane', async (t) => {
  let etcd: EtcdCluster;
  try {
    etcd = await startEtcd();
  } catch (err) {
    t.fail(`etcd did not start (bash test/setup/ensure-etcd installs it): ${(err as Error).message}`);
    return;
  }
  t.teardown(() => etcd.stop());
  const app = await startSlowApp(1500);
  t.teardown(() => void app.server.close());
  // A service per subtest: a sidecar's listener ports are its service's, and so is its key.
  const services = ['web', 'quit', 'killed', 'late', 'prestop'];
  const ports: Record<string, { outbound: number; inbound: number }> = {};
  for (const s of services) ports[s] = { outbound: await freePort(), inbound: await freePort() };
  const sidecarYaml = (s: string) => `{outbound_port: ${ports[s]!.outbound}, inbound_port: ${ports[s]!.inbound}${s === 'web' ? `, app_port: ${app.port}` : ''}}`;
  await etcd.client.put('/meshlet/mesh').value(`
services:
${services.map((s) => `  ${s}: {sidecar: ${sidecarYaml(s)}}`).join('\n')}
`);
  const xdsPort = await freePort();
  const controlPlane: ControlPlaneProcess = await startControlPlane(['--registry', etcd.registry, '--port', String(xdsPort)], await freePort());
  t.teardown(() => controlPlane.stop());
  const keyOf = (service: string, port: number) => `/meshlet/endpoints/${service}/127.0.0.1:${port}`;
  const value = (key: string) => etcd.client.get(key).string();
  const registerArgs = (service: string, port: number, registry = etcd.registry) => [
    '--service', service,
    '--register', registry,
    '--register-address', '127.0.0.1',
    '--register-port', String(port),
    '--register-ttl', `${TTL_S}s`,
  ];

  await t.test('registers once LIVE, never before; SIGTERM deregisters first, while an in-flight request finishes', async (t) => {
    // The control plane out of reach at first: the sidecar runs, not ready.
    const relay = await startTcpRelay(xdsPort);
    t.teardown(() => relay.close());
    await relay.cut();
    const key = keyOf('web', app.port);
    const sidecar = await startSidecar(t, [
      '--xds-address', `127.0.0.1:${relay.port}`,
      ...registerArgs('web', app.port),
      '--register-version', 'v2', '--zone', 'z1', '--region', 'r1',
      '--drain-time-s', '4',
    ]);
    const before: string[] = [];
    const notReadyUntil = performance.now() + 1000;
    while (performance.now() < notReadyUntil) {
      before.push(`${await readiness(sidecar.adminUrl)} key=${(await value(key)) !== null}`);
      await sleep(50);
    }
    t.same([...new Set(before)], ['503 INITIALIZING key=false'], 'not ready and not registered while it has no config');

    await relay.restore();
    // The key is read first: if it is there, the proxy turned LIVE before, so /ready must say so.
    const seenWithKey = await until('the key appears', 10_000, async () => ((await value(key)) === null ? undefined : readiness(sidecar.adminUrl)));
    t.equal(seenWithKey, '200 LIVE', 'when the key is there, the proxy is LIVE');
    const live = logIndex(sidecar, 'meshlet is live');
    const registered = logIndex(sidecar, 'registered');
    t.ok(live >= 0 && registered > live, 'logged "registered" after "meshlet is live"', { stderr: sidecar.stderr() });
    t.match(sidecar.logs()[registered], { key, ttl_s: TTL_S });
    t.same(JSON.parse((await value(key))!), { address: '127.0.0.1', port: app.port, version: 'v2', zone: 'z1', region: 'r1' }, "the key holds the endpoint's JSON");
    // Through the control plane's etcd watch, back into the mesh: the sidecar's own cluster has it.
    await untilProxyHost(sidecar.adminUrl, 'web', `127.0.0.1:${app.port}`, true, performance.now(), 3000);
    t.pass('the control plane serves the registered endpoint (it is in the sidecar\'s "web" cluster)');

    // A slow request in flight through the inbound listener, then SIGTERM.
    const slow = get(`http://127.0.0.1:${ports.web!.inbound}/slow`);
    await until('the app holds the slow request', 3000, async () => (app.holding() > 0 ? true : undefined));
    const termAt = performance.now();
    sidecar.child.kill('SIGTERM');
    let slowDone = false;
    void slow.finally(() => (slowDone = true)).catch(() => {});
    const goneMs = await until('the key is deleted', 2000, async () => ((await value(key)) === null ? Math.round(performance.now() - termAt) : undefined));
    t.comment(`SIGTERM → key deleted: ${goneMs} ms`);
    t.equal(sidecar.child.exitCode, null, 'the key is gone while the proxy still runs');
    t.notOk(slowDone, 'and while the in-flight request is still being served');
    t.equal(await readiness(sidecar.adminUrl), '503 DRAINING', 'readiness says DRAINING meanwhile');
    t.same(await slow, { status: 200, text: 'slow /slow' }, 'the in-flight request finished');
    const exit = await Promise.race([sidecar.exited, sleep(6000).then(() => 'still running')]);
    t.same(exit, { code: 0, signal: null }, 'the proxy exits 0 after draining');
    const order = ['draining', 'deregistering', 'deregistered', 'stopped'].map((m) => logIndex(sidecar, m));
    t.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `logged in order: draining, deregistering, deregistered, stopped (${order})`, { stderr: sidecar.stderr() });
    t.match(sidecar.logs()[order[2]!], { key });
  });

  await t.test('/quitquitquit deregisters too, before the proxy exits', async (t) => {
    const key = keyOf('quit', 40001);
    const sidecar = await startSidecar(t, ['--xds-address', `127.0.0.1:${xdsPort}`, ...registerArgs('quit', 40001)]);
    await until('the key appears', 10_000, async () => ((await value(key)) === null ? undefined : true));
    const res = await request(`${sidecar.adminUrl}/quitquitquit`, { method: 'POST' });
    await res.body.text();
    const exit = await Promise.race([sidecar.exited, sleep(8000).then(() => 'still running')]);
    t.same(exit, { code: 0, signal: null });
    t.equal(await value(key), null, 'the key is gone when the proxy has exited');
    t.ok(logIndex(sidecar, 'deregistered') > logIndex(sidecar, 'draining'), 'deregistered as it drained', { stderr: sidecar.stderr() });
  });

  await t.test("the injected preStop's POST /healthcheck/fail deregisters at once; the proxy keeps serving until SIGTERM", async (t) => {
    const key = keyOf('prestop', 40004);
    const sidecar = await startSidecar(t, ['--xds-address', `127.0.0.1:${xdsPort}`, ...registerArgs('prestop', 40004)]);
    await until('the key appears', 10_000, async () => ((await value(key)) === null ? undefined : true));
    const res = await request(`${sidecar.adminUrl}/healthcheck/fail`, { method: 'POST' });
    await res.body.text();
    t.equal(res.statusCode, 200);
    t.equal(await value(key), null, 'the key is gone when /healthcheck/fail answers');
    t.equal(await readiness(sidecar.adminUrl), '503 DRAINING', 'readiness fails');
    const outbound = await get(`http://127.0.0.1:${ports.prestop!.outbound}/`);
    t.not(outbound.status, 0, `the outbound listener still answers (${outbound.status}): the app may finish its calls`);
    t.equal(sidecar.child.exitCode, null, 'the proxy runs on');
    sidecar.child.kill('SIGTERM');
    t.same(await Promise.race([sidecar.exited, sleep(8000).then(() => 'still running')]), { code: 0, signal: null });
    t.equal(sidecar.logs().filter((l) => l.msg === 'deregistered').length, 1, 'once, not again on SIGTERM');
  });

  await t.test('kill -9: the key outlives the proxy until its lease expires (TTL + 1 s at most)', async (t) => {
    const key = keyOf('killed', 40002);
    const sidecar = await startSidecar(t, ['--xds-address', `127.0.0.1:${xdsPort}`, ...registerArgs('killed', 40002)]);
    await until('the key appears', 10_000, async () => ((await value(key)) === null ? undefined : true));
    const killedAt = performance.now();
    sidecar.child.kill('SIGKILL');
    await sidecar.exited;
    await sleep(300);
    t.not(await value(key), null, 'still there just after the kill: nobody deregistered it');
    const expiredMs = await until('the key expires', (TTL_S + 2) * 1000, async () => ((await value(key)) === null ? Math.round(performance.now() - killedAt) : undefined));
    t.comment(`kill -9 → key expired: ${expiredMs} ms (TTL ${TTL_S} s)`);
    t.ok(expiredMs <= (TTL_S + 1) * 1000, `expired within TTL + 1 s (${expiredMs} ms)`);
  });

  await t.test('etcd out of reach: the proxy serves, logs and retries, and registers once etcd answers', async (t) => {
    const relay = await startTcpRelay(Number(etcd.members[0]!.clientAddress.split(':')[1]));
    t.teardown(() => relay.close());
    await relay.cut();
    const key = keyOf('late', 40003);
    const sidecar = await startSidecar(t, ['--xds-address', `127.0.0.1:${xdsPort}`, ...registerArgs('late', 40003, `etcd://127.0.0.1:${relay.port}`)]);
    await until('/ready is LIVE', 10_000, async () => ((await readiness(sidecar.adminUrl)) === '200 LIVE' ? true : undefined));
    const retries = await until('two failed attempts logged', 8000, async () => {
      const failed = sidecar.logs().filter((l) => l.msg === 'cannot register; retrying');
      return failed.length >= 2 ? failed : undefined;
    });
    t.match(retries[0], { key, level: 40 }, 'a warning naming the key');
    t.ok((retries[1]!.retry_in_ms as number) > (retries[0]!.retry_in_ms as number), `with backoff (${retries.map((r) => r.retry_in_ms)} ms)`);
    t.equal((await get(`${sidecar.adminUrl}/ready`)).status, 200, 'the proxy stays LIVE meanwhile');
    t.equal(await value(key), null, 'nothing registered yet');

    await relay.restore();
    await until('"registered" logged once etcd is reachable', 8000, async () => (logIndex(sidecar, 'registered') >= 0 ? true : undefined));
    t.not(await value(key), null, 'the key is there');
    sidecar.child.kill('SIGTERM');
    t.same(await Promise.race([sidecar.exited, sleep(8000).then(() => 'still running')]), { code: 0, signal: null });
    t.equal(await value(key), null, 'deregistered on SIGTERM');
  });
});

// ---- the command line -----------------------------------------------------------------------

function meshlet(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...CLEAN_ENV, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the command line: usage errors exit 2, --help lists the flags', async (t) => {
  const base = ['proxy', '--mode', 'sidecar', '--xds-address', '127.0.0.1:18000', '--service', 'web'];
  const cases: [string[], string][] = [
    [[...base, '--register-port', '8080'], '--register-port goes with --register'],
    [[...base, '--register', 'etcd://127.0.0.1:2379', '--register-port', '8080'], '--register-address (or MESHLET_POD_IP) is required'],
    [['proxy', '--config', 'x.yaml', '--register', 'etcd://127.0.0.1:2379'], '--register goes with --mode'],
    [['proxy', '--mode', 'gateway', '--xds-address', '127.0.0.1:18000', '--service', 'edge', '--register', 'etcd://127.0.0.1:2379'], '--register (or MESHLET_REGISTER) goes with --mode sidecar'],
  ];
  for (const [args, message] of cases) {
    const r = meshlet(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
  }
  // --validate checks the registration flags too, from the environment as a pod sets them.
  const env = { MESHLET_REGISTER: 'etcd://10.0.0.5:2379', MESHLET_POD_IP: '10.1.2.3', MESHLET_REGISTER_PORT: '8080' };
  t.equal(meshlet([...base, '--validate'], env).code, 0, 'valid');
  const bad = meshlet([...base, '--validate'], { ...env, MESHLET_REGISTER_TTL: '1.5s' });
  t.equal(bad.code, 2);
  t.match(bad.stderr, '--register-ttl (or MESHLET_REGISTER_TTL): "1.5s" is not a whole number of seconds');
  const printed = meshlet([...base, '--print-bootstrap'], env);
  t.equal(printed.code, 0, printed.stderr);
  t.notMatch(printed.stdout, /register|etcd/i, 'the bootstrap does not change');
  t.ok(parse(printed.stdout).node, 'and is still a bootstrap');

  const help = meshlet(['proxy', '--help']).stdout;
  for (const flag of ['--register ', '--register-address', '--register-port', '--register-version', '--register-ttl', '--register-prefix', 'MESHLET_POD_IP', '--etcd-cacert', '--etcd-user']) t.match(help, flag);
});

// ---- option resolution (pure) ---------------------------------------------------------------

t.test('resolveRegistration: flags, then the environment, then defaults', async (t) => {
  const settings = { mode: 'sidecar', service: 'web', zone: 'z1', region: undefined };
  t.equal(resolveRegistration({}, {}, settings), undefined, 'no --register: no registration');
  t.equal(resolveRegistration({}, { MESHLET_POD_IP: '10.1.2.3', MESHLET_REGISTER_PORT: '8080' }, settings), undefined, 'variables without MESHLET_REGISTER are not an error');
  const fromFlags = resolveRegistration({ register: 'etcd://10.0.0.5:2379,10.0.0.6:2379', 'register-address': '10.1.2.3', 'register-port': '8080' }, {}, settings);
  t.match(fromFlags, { hosts: ['http://10.0.0.5:2379', 'http://10.0.0.6:2379'], prefix: '/meshlet', service: 'web', ttlSeconds: 10 }, 'from flags, with the defaults (prefix /meshlet, TTL 10 s)');
  t.same((fromFlags as { endpoint: object }).endpoint, { address: '10.1.2.3', port: 8080, zone: 'z1' }, 'the endpoint: only what is given, with --zone');
  const env = {
    MESHLET_REGISTER: 'etcd://[::1]:2379',
    MESHLET_REGISTER_PREFIX: '/mesh/prod',
    MESHLET_POD_IP: '10.1.2.3',
    MESHLET_REGISTER_PORT: '8080',
    MESHLET_REGISTER_VERSION: 'v2',
    MESHLET_REGISTER_TTL: '1m',
  };
  const fromEnv = resolveRegistration({}, env, { ...settings, region: 'r1' });
  t.match(fromEnv, { hosts: ['http://[::1]:2379'], prefix: '/mesh/prod', service: 'web', ttlSeconds: 60 }, 'from the environment (the downward API)');
  t.same((fromEnv as { endpoint: object }).endpoint, { address: '10.1.2.3', port: 8080, version: 'v2', zone: 'z1', region: 'r1' });
  t.match(resolveRegistration({ 'register-address': '10.9.9.9', 'register-ttl': '5s' }, env, settings), { endpoint: { address: '10.9.9.9' }, ttlSeconds: 5 }, 'a flag wins over its variable');
  t.match(resolveRegistration({}, { ...env, MESHLET_POD_IP: '' }, settings), { error: '--register-address (or MESHLET_POD_IP) is required' }, 'an empty variable is unset');
});

t.test('resolveRegistration: what is wrong, and with which flag', async (t) => {
  const settings = { mode: 'sidecar', service: 'web', zone: undefined, region: undefined };
  const ok = { register: 'etcd://10.0.0.5:2379', 'register-address': '10.1.2.3', 'register-port': '8080' };
  const cases: [object, string, string?][] = [
    [{ 'register-ttl': '5s' }, '--register-ttl goes with --register'],
    [{ ...ok, register: 'http://10.0.0.5:2379' }, '--register: "http://10.0.0.5:2379" is not etcd://HOST:PORT'],
    [{ ...ok, register: 'etcd://10.0.0.5' }, '--register: "10.0.0.5" is not HOST:PORT'],
    [{ ...ok, 'register-prefix': 'meshlet/' }, '--register-prefix: "meshlet/" is not a key prefix'],
    [{ ...ok, 'register-address': undefined }, '--register-address (or MESHLET_POD_IP) is required'],
    [{ ...ok, 'register-port': undefined }, '--register-port (or MESHLET_REGISTER_PORT) is required'],
    [{ ...ok, 'register-address': 'web.default.svc' }, '--register-address: expected an IP address'],
    [{ ...ok, 'register-port': '0' }, '--register-port:'],
    [{ ...ok, 'register-port': 'http' }, '--register-port:'],
    [{ ...ok, 'register-version': 'v 2' }, '--register-version: expected a version label'],
    [{ ...ok, 'register-ttl': '500ms' }, '--register-ttl (or MESHLET_REGISTER_TTL): "500ms" is not a whole number of seconds'],
    [{ ...ok, 'register-ttl': '0s' }, 'is not a whole number of seconds, at least 1s'],
  ];
  for (const [flags, message] of cases) t.match(resolveRegistration(flags, {}, settings), { error: message }, message);
  t.match(resolveRegistration(ok, {}, { ...settings, zone: '' }), { error: '--zone:' }, 'the locality is checked as the control plane reads it');
  t.match(resolveRegistration(ok, {}, { ...settings, service: 'Web_1' }), { error: "--service: expected a lowercase DNS-style name" }, 'the service names the key');
  t.match(resolveRegistration(ok, {}, { ...settings, mode: 'gateway' }), { error: '--register (or MESHLET_REGISTER) goes with --mode sidecar' });
});

t.test('resolveRegistration: TLS and auth to etcd, as the other commands take them', async (t) => {
  const settings = { mode: 'sidecar', service: 'web', zone: undefined, region: undefined };
  const ok = { register: 'etcd://10.0.0.5:2379', 'register-address': '10.1.2.3', 'register-port': '8080' };
  const ca = writeTempFile('ca.pem', 'not checked here: etcd3 loads it');
  t.match(resolveRegistration({ 'etcd-cacert': ca }, {}, settings), { error: '--etcd-cacert goes with --register' });
  const tls = resolveRegistration({ ...ok, 'etcd-cacert': ca, 'etcd-user': 'web' }, { MESHLET_ETCD_PASSWORD: 'secret' }, settings);
  t.match(tls, { hosts: ['https://10.0.0.5:2379'], access: { tls: { ca: Buffer.from('not checked here: etcd3 loads it') }, auth: { username: 'web', password: 'secret' } } });
  t.match(resolveRegistration({ ...ok, 'etcd-user': 'web' }, {}, settings), { error: '--etcd-user needs its password in MESHLET_ETCD_PASSWORD' });
  t.match(resolveRegistration({ ...ok, 'etcd-cert': ca }, {}, settings), { error: '--etcd-cert and --etcd-key go together' });
  t.match(resolveRegistration({ ...ok, 'etcd-cacert': `${ca}.missing` }, {}, settings), { error: '--etcd-cacert: cannot read' });
  const fromEnv = resolveRegistration(ok, { MESHLET_ETCD_CACERT: ca, MESHLET_ETCD_USER: 'web', MESHLET_ETCD_PASSWORD: 'secret' }, settings);
  t.match(fromEnv, { hosts: ['https://10.0.0.5:2379'], access: { auth: { username: 'web' } } }, 'each falls back to its variable, for an injected sidecar');
});

t.test('resolveModeOptions carries the registration, with node.locality in the endpoint', async (t) => {
  const flags = { service: 'web', 'xds-address': '127.0.0.1:18000', zone: 'z1', region: 'r1', register: 'etcd://127.0.0.1:2379', 'register-address': '10.1.2.3', 'register-port': '8080' };
  const options = resolveModeOptions('sidecar', flags, {}, 'host');
  t.match(options, { locality: { zone: 'z1', region: 'r1' }, registration: { service: 'web', endpoint: { address: '10.1.2.3', port: 8080, zone: 'z1', region: 'r1' } } });
  t.match(resolveModeOptions('sidecar', { service: 'web', 'xds-address': '127.0.0.1:18000' }, {}, 'host'), { registration: undefined });
  t.match(resolveModeOptions('sidecar', { ...flags, 'register-port': 'x' }, {}, 'host'), { error: '--register-port:' });
});

// ---- the registration's logic, with a fake etcd ---------------------------------------------

const FAST: RegistrationTiming = { retryInitialMs: 20, retryMaxMs: 80, stopWaitMs: 300 };
const OPTIONS = { hosts: ['http://127.0.0.1:1'], prefix: '/meshlet', service: 'web', endpoint: { address: '10.1.2.3', port: 8080 }, ttlSeconds: 10 };

/** A registerEndpoint() stand-in: `outcomes` answers the attempts in turn ('fail', or a delay in ms before success). */
function fakeEtcd(outcomes: ('fail' | number)[]) {
  const events: string[] = [];
  let attempts = 0;
  const register = async (options: EndpointRegistrationOptions): Promise<EndpointRegistration> => {
    const outcome = outcomes[Math.min(attempts++, outcomes.length - 1)];
    events.push(`attempt ${attempts}`);
    if (outcome === 'fail') throw new Error('connect ECONNREFUSED');
    await sleep(outcome!);
    events.push('put');
    return { key: `key of ${options.service}`, leaseId: '1f', deregister: async () => void events.push('deleted') };
  };
  return { register, events };
}

function recordingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const record = (level: string) => (fields: object, msg: string) => void lines.push({ level, msg, ...fields });
  return { log: { info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger, lines };
}

t.test('SidecarRegistration retries with backoff until registered; stop() deregisters', async (t) => {
  const etcd = fakeEtcd(['fail', 'fail', 'fail', 0]);
  const { log, lines } = recordingLog();
  const registration = new SidecarRegistration(OPTIONS, log, etcd.register, FAST);
  t.equal(registration.key, '/meshlet/endpoints/web/10.1.2.3:8080');
  registration.start();
  registration.start(); // once only
  await until('registered', 2000, async () => (lines.some((l) => l.msg === 'registered') ? true : undefined));
  t.same(lines.filter((l) => l.msg === 'cannot register; retrying').map((l) => [l.key, l.retry_in_ms, l.err]), [
    [registration.key, 20, 'connect ECONNREFUSED'],
    [registration.key, 40, 'connect ECONNREFUSED'],
    [registration.key, 80, 'connect ECONNREFUSED'],
  ]);
  await registration.stop();
  t.same(etcd.events, ['attempt 1', 'attempt 2', 'attempt 3', 'attempt 4', 'put', 'deleted']);
  t.same(lines.slice(-2).map((l) => l.msg), ['deregistering', 'deregistered']);
});

t.test('SidecarRegistration: stop() while retrying ends the retries at once', async (t) => {
  const etcd = fakeEtcd(['fail']);
  const registration = new SidecarRegistration(OPTIONS, recordingLog().log, etcd.register, { ...FAST, retryInitialMs: 10_000 });
  registration.start();
  await sleep(30);
  const stoppedAt = performance.now();
  await registration.stop();
  t.ok(performance.now() - stoppedAt < 100, 'without waiting out the backoff');
  await sleep(50);
  t.same(etcd.events, ['attempt 1'], 'no attempt after stop()');
  registration.start();
  await sleep(30);
  t.same(etcd.events, ['attempt 1'], 'start() after stop() does nothing');
});

t.test('SidecarRegistration: stop() during an attempt waits for it and deregisters; one that outlasts the wait is deregistered when it lands', async (t) => {
  const quick = fakeEtcd([100]);
  const a = new SidecarRegistration(OPTIONS, recordingLog().log, quick.register, FAST);
  a.start();
  await sleep(10);
  await a.stop();
  t.same(quick.events, ['attempt 1', 'put', 'deleted'], 'stop() returns once the key is deleted');

  const slow = fakeEtcd([600]);
  const b = new SidecarRegistration(OPTIONS, recordingLog().log, slow.register, FAST);
  b.start();
  await sleep(10);
  const stoppedAt = performance.now();
  await b.stop();
  const waited = performance.now() - stoppedAt;
  t.ok(waited >= 250 && waited < 500, `stop() gives up after stopWaitMs (${Math.round(waited)} ms)`);
  t.same(slow.events, ['attempt 1']);
  await until('the late registration is deleted', 2000, async () => (slow.events.includes('deleted') ? true : undefined));
  t.same(slow.events, ['attempt 1', 'put', 'deleted']);
});

// ---- the proxy's lifecycle hooks ------------------------------------------------------------

t.test('ProxyServer: onLive fires once at LIVE; drain-start steps run first, with readiness DRAINING and listeners still accepting', async (t) => {
  const [adminPort, listenerPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
  const bootstrap = parseBootstrap(
    parse(bootstrapYaml({ adminPort, listenerPort, virtualHosts: catchAllVirtualHost('app'), clusters: staticCluster('app', [{ port: upstreamPort }]) })),
  );
  const proxy = new ProxyServer(bootstrap, createLogger('silent'), { drainTimeMs: 500 });
  const events: string[] = [];
  proxy.onLive(() => events.push(`live (${proxy.state})`));
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(listenerPort, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  proxy.addDrainStartStep(async () => {
    events.push(`drain start (${proxy.state}, ${proxy.listeners.size} listener)`);
    await sleep(100);
    events.push(`listener accepts after 100 ms: ${await accepts()}`);
  });
  await proxy.start();
  proxy.onLive(() => events.push('late subscriber called at once'));
  t.same(events, ['live (LIVE)', 'late subscriber called at once']);
  await Promise.all([proxy.shutdown('test'), proxy.shutdown('twice')]);
  t.same(events.slice(2), ['drain start (DRAINING, 1 listener)', 'listener accepts after 100 ms: true'], 'the step ran once, before the listeners stopped');
  t.equal(await accepts(), false, 'the listener is closed after shutdown');
  proxy.onLive(() => events.push('after drain'));
  t.equal(events.length, 4, 'onLive after draining never calls back');
});
