import t from 'tap';
import { firstHeaderValue, hasHeader, joinedHeaderValue, removeHeader, setHeader } from '../../../proxy/router/flat-headers';

t.test('reading values', async (t) => {
  const headers = ['a', '1', 'b', '2', 'a', '3'];
  t.equal(firstHeaderValue(headers, 'a'), '1');
  t.equal(joinedHeaderValue(headers, 'a'), '1,3', 'repeated values are joined with a comma');
  t.equal(joinedHeaderValue(headers, 'b'), '2');
  t.equal(joinedHeaderValue(headers, 'c'), undefined);
  t.ok(hasHeader(headers, 'b'));
  t.notOk(hasHeader(headers, '2'), 'values are not names');
});

t.test('removeHeader drops every entry of the name and keeps the order of the others', async (t) => {
  const headers = ['a', '1', 'b', '2', 'a', '3', 'c', '4'];
  removeHeader(headers, 'a');
  t.same(headers, ['b', '2', 'c', '4']);
  removeHeader(headers, 'x');
  t.same(headers, ['b', '2', 'c', '4']);
});

t.test('setHeader replaces all values with one, in place of the first', async (t) => {
  const headers = ['a', '1', 'b', '2', 'a', '3'];
  setHeader(headers, 'a', 'new');
  t.same(headers, ['a', 'new', 'b', '2']);
  setHeader(headers, 'c', '9');
  t.same(headers, ['a', 'new', 'b', '2', 'c', '9']);
});
