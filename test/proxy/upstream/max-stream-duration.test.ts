import t from 'tap';
import type { Server } from 'node:http';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, freePort, startProxy, staticCluster } from '../../helpers/proxy-process';

t.test('max_stream_duration: the listener’s limit (408 DT) and a route’s own (408 UMSDR)', async (t) => {
  const [adminPort, listenerPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  const echo: Server = await startEchoServer('echo', echoPort);
  t.teardown(() => void echo.close());
  const proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      hcmExtra: '          common_http_protocol_options: {max_stream_duration: 0.4s}',
      virtualHosts: `            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /short}
                route: {cluster: echo, prefix_rewrite: /delay, max_stream_duration: {max_stream_duration: 0.15s}}
              - match: {prefix: /}
                route: {cluster: echo, timeout: 10s}`,
      clusters: staticCluster('echo', [{ port: echoPort }]),
    }),
    adminPort,
  );
  t.teardown(() => proxy.stop());
  const get = async (path: string) => {
    const res = await request(`http://127.0.0.1:${listenerPort}${path}`);
    return { status: res.statusCode, flag: res.headers['x-meshlet-response-flags'], body: await res.body.text() };
  };
  const quick = await get('/delay/50');
  t.match(quick, { status: 200, flag: undefined, body: /"server":"echo"/ }, 'a quick request is untouched');
  const listenerLimit = await get('/delay/2000');
  t.equal(listenerLimit.status, 408);
  t.equal(listenerLimit.flag, 'DT');
  t.match(listenerLimit.body, /downstream duration timeout/);
  const routeLimit = await get('/short/2000');
  t.equal(routeLimit.status, 408);
  t.equal(routeLimit.flag, 'UMSDR');
  t.match(routeLimit.body, /upstream max stream duration reached/);
});
