import t from 'tap';
import { isInternalAddress, trustedClientAddress } from '../../../proxy/listener/client-address';

t.test('trusted client address follows Envoy’s XFF rules', async (t) => {
  t.equal(trustedClientAddress('192.0.2.1', undefined, true, 0), '192.0.2.1', 'edge: the peer');
  t.equal(trustedClientAddress('192.0.2.1', '198.51.100.7', true, 0), '192.0.2.1', 'edge ignores XFF without trusted hops');
  t.equal(trustedClientAddress('10.0.0.2', '198.51.100.7, 10.0.0.9', true, 1), '10.0.0.9', 'one trusted hop: rightmost XFF');
  t.equal(trustedClientAddress('10.0.0.2', '198.51.100.7, 10.0.0.9', false, 0), '10.0.0.9', 'not edge: rightmost XFF');
  t.equal(trustedClientAddress('10.0.0.2', '198.51.100.7, 10.0.0.9', false, 1), '198.51.100.7');
  t.equal(trustedClientAddress('10.0.0.2', '198.51.100.7', false, 3), '10.0.0.2', 'too few entries: the peer');
  t.equal(trustedClientAddress('10.0.0.2', undefined, false, 0), '10.0.0.2', 'no XFF: the peer');
});

t.test('internal addresses: RFC 1918, loopback, unique local', async (t) => {
  for (const ip of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '127.0.0.1', '::1', '::ffff:10.0.0.1', 'fd00::1']) {
    t.ok(isInternalAddress(ip), ip);
  }
  for (const ip of ['172.32.0.1', '8.8.8.8', '203.0.113.5', '2001:db8::1', '::ffff:8.8.8.8']) t.notOk(isInternalAddress(ip), ip);
});
