import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

/**
 * Path tricks against an RBAC rule denying /admin: with normalize_path, merge_slashes and
 * path_with_escaped_slashes_action, none of them reaches the upstream as something else.
 */

let upstream: Server;
let seen: string[] = [];
const proxies: ProxyProcess[] = [];

t.before(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
});
t.teardown(async () => {
  for (const p of proxies) await p.stop();
  upstream.close();
});

async function proxyWith(escapedSlashes: string): Promise<number> {
  const [admin, port] = [await freePort(), await freePort()];
  const yaml = bootstrapYaml({
    adminPort: admin,
    listenerPort: port,
    virtualHosts: catchAllVirtualHost('app'),
    clusters: staticCluster('app', [{ port: (upstream.address() as { port: number }).port }]),
    hcmExtra: `          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: ${escapedSlashes}`,
  }).replace(
    /          http_filters:\n/,
    `          http_filters:
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules: {action: DENY, policies: {no-admin: {permissions: [{url_path: {path: {prefix: /admin}}}], principals: [{any: true}]}}}
`,
  );
  proxies.push(await startProxy(yaml, admin));
  return port;
}

/** A raw request, so the path reaches the proxy exactly as written. */
function get(port: number, target: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(data.split(' ')[1]), location: /\r\nlocation: ([^\r]*)/i.exec(data)?.[1] }));
  });
}

t.test('UNESCAPE_AND_FORWARD: every spelling of /admin is denied; others go upstream normalized', async (t) => {
  const port = await proxyWith('UNESCAPE_AND_FORWARD');
  for (const target of ['/admin', '/public/../admin/users', '//admin', '/./admin', '/%61dmin', '/public%2F..%2Fadmin', '/public%5c..%5cadmin', '/x/%2e%2e/admin']) {
    seen = [];
    t.equal((await get(port, target)).status, 403, `${target}: denied`);
    t.same(seen, [], `${target}: nothing upstream`);
  }
  seen = [];
  t.equal((await get(port, '/public/./a//b?q=%2F..%2F')).status, 200);
  t.same(seen, ['/public/a/b?q=%2F..%2F'], 'the upstream gets the normalized path; the query is untouched');
});

t.test('REJECT_REQUEST: an escaped slash is refused with 400; KEEP_UNCHANGED leaves it to the upstream, still not /admin', async (t) => {
  const reject = await proxyWith('REJECT_REQUEST');
  seen = [];
  t.equal((await get(reject, '/public%2F..%2Fadmin')).status, 400);
  t.same(seen, []);
  const keep = await proxyWith('KEEP_UNCHANGED');
  seen = [];
  t.equal((await get(keep, '/public%2F..%2Fadmin')).status, 200, 'one opaque segment, not /admin');
  t.same(seen, ['/public%2F..%2Fadmin']);
});

t.test('UNESCAPE_AND_REDIRECT answers 307 to the normalized path', async (t) => {
  const port = await proxyWith('UNESCAPE_AND_REDIRECT');
  const res = await get(port, '/public%2Fdocs?x=1');
  t.equal(res.status, 307);
  t.equal(res.location, '/public/docs?x=1');
});

t.test('a fragment in the request target is refused', async (t) => {
  const port = await proxyWith('KEEP_UNCHANGED');
  seen = [];
  t.equal((await get(port, '/public#frag')).status, 400);
  t.same(seen, []);
});
