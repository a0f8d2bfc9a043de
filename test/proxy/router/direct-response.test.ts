import t from 'tap';
import { compileDirectResponse } from '../../../proxy/router/direct-response';
import type { DirectResponseAction } from '../../../proxy/router/route-configuration';
import { collect } from './fixtures/helpers';

const compile = (config: object, max = 4096) =>
  collect((issues) => compileDirectResponse(config as DirectResponseAction, max, 'd', issues));

t.test('status and body, inline string or bytes', async (t) => {
  t.same(compile({ status: 200, body: { inline_string: 'hello' } }).result, { status: 200, body: Buffer.from('hello') });
  t.same(compile({ status: 503, body: { inline_bytes: Buffer.from([0, 1, 2]) } }).result, { status: 503, body: Buffer.from([0, 1, 2]) });
  const empty = compile({ status: 204 }).result!;
  t.equal(empty.status, 204);
  t.equal(empty.body.length, 0, 'no body means an empty one');
});

t.test('invalid direct responses are issues', async (t) => {
  t.same(compile({ status: 99 }).issues, [{ path: 'd.status', message: 'must be an HTTP status in [200, 599]' }]);
  t.same(compile({}).issues, [{ path: 'd.status', message: 'must be an HTTP status in [200, 599]' }]);
  t.same(compile({ status: 200, body: { filename: '/etc/motd' } }).issues, [
    { path: 'd.body.filename', message: 'not supported by meshlet' },
  ]);
  t.same(compile({ status: 200, body: { inline_string: 'x'.repeat(11) } }, 10).issues, [
    { path: 'd.body', message: 'is 11 bytes; the maximum is 10 (max_direct_response_body_size_bytes)' },
  ]);
  t.same(compile({ status: 200, body: { inline_string: 'x'.repeat(10) } }, 10).issues, [], 'the maximum itself is allowed');
});
