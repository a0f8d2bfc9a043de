import t from 'tap';
import { connectionNominated, copyEndToEnd } from '../../../proxy/listener/hop-by-hop';

t.test('copyEndToEnd lowercases names and drops RFC 9110 hop-by-hop headers', async (t) => {
  const out: string[] = [];
  const chunked = copyEndToEnd(
    ['Host', 'x', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked',
      'Upgrade', 'h2c', 'Proxy-Connection', 'keep-alive', 'Trailer', 'x-t', 'X-App', 'A'],
    out,
  );
  t.same(out, ['host', 'x', 'te', 'trailers', 'x-app', 'A'], '`TE: trailers` alone is forwarded (gRPC needs it), as Envoy does');
  t.equal(chunked, true, 'reports that Transfer-Encoding was present');
  const other: string[] = [];
  copyEndToEnd(['TE', 'gzip, trailers'], other);
  t.same(other, [], 'any other TE value is dropped');
});

t.test('HTTP/2 pseudo-headers are dropped, and :authority becomes host', async (t) => {
  const out: string[] = [];
  copyEndToEnd([':method', 'POST', ':path', '/svc/M', ':scheme', 'http', ':authority', 'api:8080', 'content-type', 'application/grpc'], out);
  t.same(out, ['host', 'api:8080', 'content-type', 'application/grpc']);
});

t.test('headers nominated by Connection are dropped too, across several Connection headers', async (t) => {
  const out: string[] = [];
  const chunked = copyEndToEnd(['Connection', 'x-a', 'x-a', '1', 'x-b', '2', 'connection', 'X-B', 'x-c', '3'], out);
  t.same(out, ['x-c', '3']);
  t.equal(chunked, false);
});

t.test('upstream response headers come as Buffers', async (t) => {
  const out: string[] = [];
  copyEndToEnd([Buffer.from('Content-Length'), Buffer.from('2'), Buffer.from('Connection'), Buffer.from('close')], out);
  t.same(out, ['content-length', '2']);
});

t.test('connectionNominated ignores close and keep-alive tokens', async (t) => {
  t.equal(connectionNominated('close'), undefined);
  t.same([...connectionNominated('close, X-Foo ,keep-alive,bar')!], ['x-foo', 'bar']);
});
