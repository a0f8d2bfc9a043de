import t from 'tap';
import { compileHeaderMutations } from '../../../proxy/router/header-mutation';
import type { HeaderMutationFields } from '../../../proxy/router/route-configuration';
import type { HeaderValueOption } from '../../../proxy/router/route-configuration';
import { collect, context } from './fixtures/helpers';

function applyRequest(level: HeaderMutationFields, headers: string[]): string[] {
  const { result, issues } = collect((issues) => compileHeaderMutations(level, 'l', issues));
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  result.request?.apply(headers, context());
  return headers;
}

const add = (key: string, value: string, more: Partial<HeaderValueOption> = {}): HeaderValueOption => ({
  header: { key, value },
  ...more,
});

t.test('append actions', async (t) => {
  const existing = () => ['x', 'old', 'x', 'older', 'y', '1'];
  const cases: [name: string, option: HeaderValueOption, before: string[], after: string[]][] = [
    ['default appends', add('x', 'new'), existing(), ['x', 'old', 'x', 'older', 'y', '1', 'x', 'new']],
    ['APPEND_IF_EXISTS_OR_ADD adds', add('z', 'new', { append_action: 'APPEND_IF_EXISTS_OR_ADD' }), ['y', '1'], ['y', '1', 'z', 'new']],
    ['ADD_IF_ABSENT keeps an existing header', add('x', 'new', { append_action: 'ADD_IF_ABSENT' }), existing(), existing()],
    ['ADD_IF_ABSENT adds a missing one', add('z', 'new', { append_action: 'ADD_IF_ABSENT' }), ['y', '1'], ['y', '1', 'z', 'new']],
    ['OVERWRITE_IF_EXISTS_OR_ADD replaces every value', add('x', 'new', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }), existing(), ['x', 'new', 'y', '1']],
    ['OVERWRITE_IF_EXISTS_OR_ADD adds', add('z', 'new', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }), ['y', '1'], ['y', '1', 'z', 'new']],
    ['OVERWRITE_IF_EXISTS replaces', add('x', 'new', { append_action: 'OVERWRITE_IF_EXISTS' }), existing(), ['x', 'new', 'y', '1']],
    ['OVERWRITE_IF_EXISTS does not add', add('z', 'new', { append_action: 'OVERWRITE_IF_EXISTS' }), ['y', '1'], ['y', '1']],
    ['deprecated append: true appends', add('x', 'new', { append: true }), ['x', 'old'], ['x', 'old', 'x', 'new']],
    ['deprecated append: false overwrites', add('x', 'new', { append: false }), ['x', 'old'], ['x', 'new']],
    ['keys are lowercased', add('X-New', 'v'), [], ['x-new', 'v']],
  ];
  for (const [name, option, before, after] of cases) {
    t.same(applyRequest({ request_headers_to_add: [option] }, before), after, name);
  }
});

t.test('removal happens before addition', async (t) => {
  const headers = applyRequest(
    { request_headers_to_remove: ['X-Gone', 'x'], request_headers_to_add: [add('x', 'new')] },
    ['x', 'old', 'x-gone', '1', 'keep', '2'],
  );
  t.same(headers, ['keep', '2', 'x', 'new']);
});

t.test('empty values are dropped unless keep_empty_value', async (t) => {
  t.same(applyRequest({ request_headers_to_add: [add('x', '')] }, []), []);
  t.same(applyRequest({ request_headers_to_add: [add('x', '%REQ(missing)%')] }, []), [], 'an operator with no value');
  t.same(applyRequest({ request_headers_to_add: [add('x', '', { keep_empty_value: true })] }, []), ['x', '']);
});

t.test('one level evaluates against the headers as they were, then overwrites, then appends', async (t) => {
  t.same(
    applyRequest({ request_headers_to_add: [add('x-a', '1'), add('x-b', '%REQ(x-a)%')] }, []),
    ['x-a', '1'],
    'x-b does not see the x-a added by the same level',
  );
  t.same(
    applyRequest({ request_headers_to_add: [add('x', 'a', { append_action: 'ADD_IF_ABSENT' }), add('x', 'b', { append_action: 'ADD_IF_ABSENT' })] }, []),
    ['x', 'a', 'x', 'b'],
    'both conditions are decided before either addition, as in Envoy',
  );
  t.same(
    applyRequest({ request_headers_to_add: [add('x', 'appended'), add('x', 'set', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })] }, ['x', 'old']),
    ['x', 'set', 'x', 'appended'],
  );
});

t.test('request and response sides are separate', async (t) => {
  const { result } = collect((issues) =>
    compileHeaderMutations({ response_headers_to_add: [add('x-r', 'v')], response_headers_to_remove: ['server'] }, 'l', issues),
  );
  t.equal(result.request, undefined, 'a side with nothing to do compiles to undefined');
  const headers = ['server', 'upstream'];
  result.response!.apply(headers, context());
  t.same(headers, ['x-r', 'v']);
});

t.test('invalid mutations are issues at their paths', async (t) => {
  const issues = (level: object) => collect((issues) => compileHeaderMutations(level as HeaderMutationFields, 'l', issues)).issues;
  t.same(issues({ request_headers_to_add: [add(':path', '/x'), add('Host', 'h')] }), [
    { path: 'l.request_headers_to_add[0].header.key', message: ':-prefixed or host headers may not be modified' },
    { path: 'l.request_headers_to_add[1].header.key', message: ':-prefixed or host headers may not be modified' },
  ]);
  t.same(issues({ request_headers_to_remove: [':path', 'HOST', ''], response_headers_to_remove: [':status'] }), [
    { path: 'l.request_headers_to_remove[0]', message: ':-prefixed or host headers may not be removed' },
    { path: 'l.request_headers_to_remove[1]', message: ':-prefixed or host headers may not be removed' },
    { path: 'l.request_headers_to_remove[2]', message: 'must not be empty' },
    { path: 'l.response_headers_to_remove[0]', message: ':-prefixed or host headers may not be removed' },
  ]);
  t.same(issues({ response_headers_to_add: [add('x', 'v', { append: true, append_action: 'ADD_IF_ABSENT' })] }), [
    { path: 'l.response_headers_to_add[0].append', message: 'both append and append_action are set' },
  ]);
  t.same(issues({ response_headers_to_add: [add('x', '%NOPE%')] }), [
    { path: 'l.response_headers_to_add[0].header.value', message: '%NOPE%: unknown command operator (not supported by meshlet)' },
  ]);
  t.same(issues({ request_headers_to_add: [{ header: { key: 'x', raw_value: Buffer.from('v') } }, { append: true }] }), [
    { path: 'l.request_headers_to_add[0].header.raw_value', message: 'not supported by meshlet' },
    { path: 'l.request_headers_to_add[1].header', message: 'is required' },
  ]);
});
