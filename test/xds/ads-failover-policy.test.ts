import t from 'tap';
import { currentControlPlane, firstControlPlane, grpcTarget, nextControlPlane, type ControlPlaneRotation } from '../../xds/control-plane-endpoints';

/** The targets `n` successive streams go to. */
function streams(rotation: ControlPlaneRotation, n: number): string[] {
  const seen: string[] = [];
  for (let i = 0; i < n; i++) {
    seen.push(currentControlPlane(rotation));
    rotation = nextControlPlane(rotation);
  }
  return seen;
}

t.test('the first stream goes to the first endpoint, each next one to the one after, in config order, wrapping around', async (t) => {
  t.same(streams(firstControlPlane(['a:1', 'b:2', 'c:3']), 7), ['a:1', 'b:2', 'c:3', 'a:1', 'b:2', 'c:3', 'a:1']);
  t.same(streams(firstControlPlane(['b:2', 'a:1']), 3), ['b:2', 'a:1', 'b:2'], 'config order, not sorted');
});

t.test('one endpoint: every stream goes to it', async (t) => {
  t.same(streams(firstControlPlane(['a:1']), 3), ['a:1', 'a:1', 'a:1']);
});

t.test('a rotation is a value: moving on leaves the previous one as it was', async (t) => {
  const first = firstControlPlane(['a:1', 'b:2']);
  const second = nextControlPlane(first);
  t.equal(currentControlPlane(first), 'a:1');
  t.equal(currentControlPlane(second), 'b:2');
});

t.test('no endpoints is a programming error (the bootstrap parser refuses such an ADS cluster)', async (t) => {
  t.throws(() => firstControlPlane([]), /no endpoints/);
});

t.test('endpoints as gRPC targets: IPv6 addresses in brackets, hostnames as they are', async (t) => {
  t.equal(grpcTarget({ address: '127.0.0.1', port: 18000 }), '127.0.0.1:18000');
  t.equal(grpcTarget({ address: '::1', port: 18000 }), '[::1]:18000');
  t.equal(grpcTarget({ address: 'cp.meshlet-system.svc', port: 18000 }), 'cp.meshlet-system.svc:18000');
});
