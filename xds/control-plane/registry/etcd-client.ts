/**
 * An etcd3 client for the mesh registry, with timeouts that suit it. etcd3 fails over between
 * the given members by itself (each call goes to a shuffled member; a member failing three
 * times in a row is skipped for 5 s), and its watch streams reconnect and resume by themselves.
 */
import { Etcd3, type IOptions } from 'etcd3';

/** A unary call (get, put, lease grant) to an unreachable member fails, and is retried on another, instead of hanging. */
const CALL_TIMEOUT_MS = 5000;

/**
 * etcd3's default watch reconnect backoff grows to 30 s: after an outage that long, a control
 * plane would go on serving a stale mesh for that much longer. Reconnecting is one stream per
 * control plane, so a short cap costs etcd little.
 */
const WATCH_BACKOFF = { initialMs: 100, maxMs: 2000 };

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/** Doubling from `ms` up to `maxMs`, each wait ±20% so that control planes do not reconnect in step. */
function jitteredBackoff(ms: number, maxMs: number): Backoff {
  return {
    duration: ms * (0.8 + 0.4 * Math.random()),
    next: () => jitteredBackoff(Math.min(ms * 2, maxMs), maxMs),
  };
}

/**
 * What reaching etcd takes besides its addresses: the CA its server certificates chain to (and
 * a client certificate, when etcd runs with --client-cert-auth), and a user when auth is on.
 */
export interface EtcdAccess {
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
}

/** `hosts`: the members' client URLs, `http://HOST:PORT` (`https://` with `access.tls`). */
export function etcdClient(hosts: readonly string[], access: EtcdAccess = {}): Etcd3 {
  const { tls, auth } = access;
  return new Etcd3({
    hosts: [...hosts],
    ...(tls && { credentials: { rootCertificate: tls.ca, ...(tls.cert && tls.key && { certChain: tls.cert, privateKey: tls.key }) } }),
    ...(auth && { auth }),
    dialTimeout: CALL_TIMEOUT_MS,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    // A member that is gone without closing its connections (a partition, a frozen VM) is
    // noticed by the pings' timeout, and the watch moves to another member.
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5000 },
    faultHandling: { watchBackoff: jitteredBackoff(WATCH_BACKOFF.initialMs, WATCH_BACKOFF.maxMs) },
  });
}
