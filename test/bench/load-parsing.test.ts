import t from 'tap';
import { frameHttpResponse } from '../../bench/load/http-response-framing';
import { parseWrkOutput, wrkArgs, wrkLuaScript } from '../../bench/load/wrk';

const spec = { mode: 'closed' as const, connections: 50, durationSec: 2 };

t.test('wrk arguments: one thread, whole seconds, the reporting script', async (t) => {
  t.same(wrkArgs({ url: 'http://127.0.0.1:8080/', connections: 50, durationSec: 1.5, timeoutSec: 2, scriptPath: '/tmp/r.lua' }), [
    '-t1',
    '-c50',
    '-d2s',
    '--timeout',
    '2s',
    '-s',
    '/tmp/r.lua',
    'http://127.0.0.1:8080/',
  ]);
  t.match(wrkLuaScript(), /latency:percentile\(99\.9\)/);
});

t.test('wrk result line is parsed among the human-readable output', async (t) => {
  const out = [
    'Running 2s test @ http://127.0.0.1:18080/',
    '  1 threads and 50 connections',
    'Requests/sec:  50533.15',
    'MESHLET_BENCH_JSON {"requests":100000,"durationUs":2000000,"connect":0,"read":1,"write":0,"status":3,"timeout":2,"p50":1015,"p90":1274,"p99":1644,"p999":4029,"mean":945.842,"max":5037}',
    '',
  ].join('\n');
  const r = parseWrkOutput(out, spec);
  t.equal(r.generator, 'wrk');
  t.equal(r.requests, 100000);
  t.equal(r.rps, 50000);
  t.equal(r.non2xx, 3);
  t.equal(r.socketErrors, 3);
  t.same(r.latencyUs, { p50: 1015, p90: 1274, p99: 1644, p999: 4029, mean: 945.842, max: 5037 });
  t.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused', spec));
});

t.test('HTTP response framing', async (t) => {
  const cl = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 503');
  t.same(frameHttpResponse(cl), { length: cl.indexOf('HTTP/1.1 503'), status: 200, keepAlive: true }, 'stops at the next response');
  t.equal(frameHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel')), null, 'body incomplete');
  t.equal(frameHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')), null, 'head incomplete');
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n');
  t.same(frameHttpResponse(chunked), { length: chunked.length, status: 200, keepAlive: true });
  t.equal(frameHttpResponse(chunked.subarray(0, chunked.length - 2)), null, 'last CRLF missing');
  const trailers = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n');
  t.equal(frameHttpResponse(trailers)?.length, trailers.length, 'trailers');
  const noContent = Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
  t.same(frameHttpResponse(noContent), { length: noContent.length, status: 204, keepAlive: false }, '204 has no body');
  t.equal(frameHttpResponse(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'))?.keepAlive, false, 'HTTP/1.0 closes by default');
  t.equal(frameHttpResponse(Buffer.from('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n'))?.keepAlive, true);
  t.throws(() => frameHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody until close')), /neither Content-Length nor chunked/);
  t.throws(() => frameHttpResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')));
});
