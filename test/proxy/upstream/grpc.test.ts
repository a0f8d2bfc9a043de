import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { metricValue } from '../../helpers/ads-test-server';
import { bootstrapYaml, freePort, startProxy, type ProxyProcess } from '../../helpers/proxy-process';
import { echoClient, startGrpcEcho, type EchoReply } from './fixtures/grpc-echo';

/**
 * gRPC through the proxy with real grpc-js peers: HTTP/2 with prior knowledge downstream
 * (codec AUTO) and upstream (the cluster's http2_protocol_options).
 */

const H2_CLUSTER = `
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}`;

function cluster(name: string, ports: number[], extra = ''): string {
  const endpoints = ports.map((p) => `{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${p}}}}}`).join(', ');
  return `  - name: ${name}
    connect_timeout: 1s${H2_CLUSTER}${extra}
    load_assignment: {cluster_name: ${name}, endpoints: [{lb_endpoints: [${endpoints}]}]}`;
}

let proxy: ProxyProcess;
let client: any;
let retryClient: any;
const servers: grpc.Server[] = [];
let flaky: { calls: () => number };

t.before(async () => {
  const [admin, listener, good, flakyPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  servers.push((await startGrpcEcho('good', good)).server);
  const f = await startGrpcEcho('flaky', flakyPort, grpc.status.UNAVAILABLE);
  servers.push(f.server);
  flaky = f;
  proxy = await startProxy(
    bootstrapYaml({
      adminPort: admin,
      listenerPort: listener,
      virtualHosts: `            - name: grpc
              domains: ["*"]
              routes:
              - match: {prefix: /meshlet.test.Echo/, headers: [{name: x-route, string_match: {exact: retry}}]}
                route: {cluster: pair, retry_policy: {retry_on: unavailable, num_retries: 3, retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts, typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}}]}}
              - match: {prefix: /meshlet.test.Echo/}
                route: {cluster: echo, max_stream_duration: {grpc_timeout_header_max: 0s}}`,
      clusters: [cluster('echo', [good]), cluster('pair', [flakyPort, good])].join('\n'),
    }),
    admin,
  );
  const address = `127.0.0.1:${listener}`;
  client = echoClient(address);
  retryClient = echoClient(address);
});

t.teardown(async () => {
  client?.close();
  retryClient?.close();
  await proxy?.stop();
  for (const s of servers) s.forceShutdown();
});

const unary = (c: any, request: object, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}) =>
  new Promise<{ reply?: EchoReply; error?: grpc.ServiceError; trailers?: grpc.Metadata }>((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c.Unary(request, metadata, options, (error: grpc.ServiceError | null, reply: EchoReply) => setImmediate(() => resolve({ reply, error: error ?? undefined, trailers })));
    call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
  });

t.test('unary: reply and trailers pass through', async (t) => {
  const { reply, error, trailers } = await unary(client, { message: 'hello' });
  t.equal(error, undefined);
  t.same(reply, { message: 'hello', served_by: 'good' });
  t.same(trailers?.get('x-served-by'), ['good'], 'the upstream trailer reaches the client');
});

t.test('server streaming', async (t) => {
  const messages: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.ServerStream({ message: '5' });
    call.on('data', (r: EchoReply) => messages.push(r.message));
    call.on('end', resolve);
    call.on('error', reject);
  });
  t.same(messages, ['0', '1', '2', '3', '4']);
});

t.test('client streaming', async (t) => {
  const reply = await new Promise<EchoReply>((resolve, reject) => {
    const call = client.ClientStream((err: Error | null, r: EchoReply) => (err ? reject(err) : resolve(r)));
    for (const m of ['a', 'b', 'c']) call.write({ message: m });
    call.end();
  });
  t.equal(reply.message, 'a,b,c');
});

t.test('bidirectional streaming: each reply before the next request', async (t) => {
  const call = client.Bidi();
  const replies: string[] = [];
  for (const m of ['one', 'two', 'three']) {
    const next = new Promise<string>((resolve) => call.once('data', (r: EchoReply) => resolve(r.message)));
    call.write({ message: m });
    replies.push(await next);
  }
  call.end();
  await new Promise((resolve) => call.on('end', resolve).resume?.());
  t.same(replies, ['ONE', 'TWO', 'THREE'], 'interleaved: the proxy streams both ways at once');
});

t.test('an upstream error status and message pass through', async (t) => {
  const { error } = await unary(client, { message: 'x', fail_with: grpc.status.PERMISSION_DENIED });
  t.equal(error?.code, grpc.status.PERMISSION_DENIED);
  t.match(error?.details, /failing with 7/);
});

t.test('grpc-timeout is honoured: the proxy answers DEADLINE_EXCEEDED', async (t) => {
  const metadata = new grpc.Metadata();
  // grpc-js sets grpc-timeout from the deadline; give the client a much later deadline of its own
  // by sending the header ourselves is not possible, so the deadline is short and the server slow.
  const { error } = await unary(client, { message: 'slow', delay_ms: 2000 }, metadata, { deadline: Date.now() + 300 });
  t.equal(error?.code, grpc.status.DEADLINE_EXCEEDED);
});

t.test('retry_on unavailable: a failing host is retried on the other one', async (t) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-route', 'retry');
  let failures = 0;
  for (let i = 0; i < 6; i++) {
    // The flaky server fails every call with UNAVAILABLE; the good one answers.
    const { reply, error } = await unary(retryClient, { message: `r${i}`, fail_with: 0 }, metadata);
    if (error !== undefined) failures++;
    else t.equal(reply?.served_by, 'good');
  }
  t.equal(failures, 0);
  t.ok(flaky.calls() >= 1, 'the failing host was tried and retried away from');
});

t.test('gRPC statuses are counted per cluster', async (t) => {
  t.ok(((await metricValue(proxy.adminUrl, /^meshlet_cluster_grpc_responses_total\{envoy_cluster_name="echo",grpc_status="0"\}/)) ?? 0) >= 4);
  t.equal(await metricValue(proxy.adminUrl, /^meshlet_cluster_grpc_responses_total\{envoy_cluster_name="echo",grpc_status="7"\}/), 1);
});
