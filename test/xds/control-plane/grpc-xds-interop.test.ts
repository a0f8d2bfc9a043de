/**
 * Interop: @grpc/grpc-js-xds, the gRPC team's proxyless xDS client, resolves `xds:///echo`
 * through the control plane (API listener → RDS → CDS → EDS, state of the world) and calls the
 * gRPC server the mesh file advertises; when the file moves the endpoint, the client follows.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startEchoServer } from './fixtures/echo-grpc';
import { startHarness } from './fixtures/control-plane-harness';

const CLIENT = join(__dirname, 'fixtures', 'xds-grpc-client.js');

const mesh = (port: number) => ({ services: { echo: { port: 50051, endpoints: [{ address: '127.0.0.1', port }] } } });

t.test('grpc-js-xds resolves xds:///echo through the control plane and calls the advertised server', async (t) => {
  const a = await startEchoServer('server-a');
  const b = await startEchoServer('server-b');
  const h = await startHarness(mesh(a.port));
  const bootstrap = {
    xds_servers: [{ server_uri: h.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-client-1', cluster: 'grpc-clients', locality: { zone: 'test' } },
  };
  const child = spawn(process.execPath, [CLIENT, 'xds:///echo'], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_XDS_BOOTSTRAP: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    a.stop();
    b.stop();
    await h.stop();
  });

  const replies: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    replies.push(line);
    for (const w of waiters.splice(0)) w();
  });
  /** Resolves once a reply line matches, or rejects after `ms`. */
  const replyMatching = (re: RegExp, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no reply matching ${re} within ${ms} ms; replies: ${replies.slice(-5).join(' ')}; stderr: ${stderr}`)), ms);
      const check = () => {
        if (replies.some((r) => re.test(r))) {
          clearTimeout(deadline);
          resolve();
        } else waiters.push(check);
      };
      check();
    });

  await replyMatching(/"reply":"server-a"/, 20_000);
  t.pass('the first calls reach the server the mesh advertises');

  const dump = (await (await fetch(`${h.adminUrl}/config_dump`)).json()) as any;
  const node = dump.nodes.find((n: any) => n.node_id === 'grpc-client-1');
  t.match(node, { role: 'client', protocol: 'sotw', types: { LDS: { subscription: ['echo'] }, RDS: { subscription: ['outbound'] }, CDS: { subscription: ['echo'] }, EDS: { subscription: ['echo'] } } });
  for (const type of ['LDS', 'RDS', 'CDS', 'EDS']) t.ok(node.types[type].acked_version, `${type} was ACKed`);

  const mark = replies.length;
  h.writeMesh(mesh(b.port));
  await replyMatching(/"reply":"server-b"/, 10_000);
  t.pass('after the mesh file moves the endpoint, calls reach the new server');
  t.notOk(replies.slice(mark).some((r) => r.includes('"error"')), 'no call failed during the move');
});
