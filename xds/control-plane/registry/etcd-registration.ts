/**
 * An instance in the mesh's etcd registry for as long as it lives: its endpoint under
 * `<prefix>/endpoints/<service>/<address>:<port>` (etcd-keys.ts), attached to a lease that this
 * process keeps alive. `meshlet register` runs it beside an app; a sidecar could register its
 * app the same way. Deregistering deletes the key and revokes the lease, so a drained instance
 * leaves the proxies' endpoints before it stops; a process that dies without deregistering stops
 * renewing the lease, and etcd deletes the key once the TTL has passed.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import type { EndpointSpec } from '../mesh-config';
import { etcdClient, type EtcdAccess } from './etcd-client';
import { endpointKey } from './etcd-keys';

/** What an instance says about itself: the registered endpoint's JSON value. */
export type RegisteredEndpoint = Pick<EndpointSpec, 'address' | 'port'> & Partial<Omit<EndpointSpec, 'address' | 'port'>>;

export interface EndpointRegistrationOptions {
  /** The members' client URLs, `http://HOST:PORT` (`https://` with TLS). */
  readonly hosts: readonly string[];
  readonly access?: EtcdAccess;
  readonly prefix: string;
  readonly service: string;
  readonly endpoint: RegisteredEndpoint;
  /** How long the endpoint outlives this process if it dies without deregistering (whole seconds, ≥ 1). */
  readonly ttlSeconds: number;
  readonly log: Logger;
}

export interface EndpointRegistration {
  readonly key: string;
  /** The current lease, as etcd names it (hex, like etcdctl). */
  readonly leaseId: string;
  /**
   * Deletes the key and revokes the lease. Bounded: when etcd cannot be reached in time, the
   * key goes when its lease expires.
   */
  deregister(): Promise<void>;
}

/** What a registration puts in etcd: the endpoint's key (etcd-keys.ts), and the endpoint as JSON. */
export function registrationEntry(prefix: string, service: string, endpoint: RegisteredEndpoint): { readonly key: string; readonly value: string } {
  return { key: endpointKey(prefix, service, endpoint), value: JSON.stringify(endpoint) };
}

const DEREGISTER_TIMEOUT_MS = 5000;
const RETRY_BACKOFF = { initialMs: 200, maxMs: 5000 };

/**
 * Puts the endpoint on a new lease and keeps it alive. If the lease is lost anyway (etcd out of
 * reach for longer than the TTL), it registers again, on a new lease, as soon as it can.
 * @throws when etcd cannot be reached now: nothing is left behind
 */
export async function registerEndpoint(options: EndpointRegistrationOptions): Promise<EndpointRegistration> {
  const registration = new Registration(etcdClient(options.hosts, options.access), options);
  try {
    await registration.register();
  } catch (err) {
    registration.close();
    throw new Error(`cannot register ${registration.key}: ${(err as Error).message}`);
  }
  return registration;
}

class Registration implements EndpointRegistration {
  readonly key: string;
  leaseId = '';
  private readonly value: string;
  private lease: Lease | undefined;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly options: EndpointRegistrationOptions,
  ) {
    ({ key: this.key, value: this.value } = registrationEntry(options.prefix, options.service, options.endpoint));
  }

  async register(): Promise<void> {
    const lease = this.client.lease(this.options.ttlSeconds);
    try {
      await lease.put(this.key).value(this.value);
    } catch (err) {
      lease.release(); // stop renewing a lease granted before the put failed: it expires
      throw err;
    }
    this.lease = lease;
    this.leaseId = BigInt(await lease.grant()).toString(16);
    lease.on('lost', (err: Error) => {
      if (this.closed || lease !== this.lease) return;
      this.options.log.warn({ key: this.key, lease: this.leaseId, err: err.message }, 'registration lease lost: registering again');
      void this.registerAgain();
    });
  }

  async deregister(): Promise<void> {
    this.closed = true;
    const lease = this.lease;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), DEREGISTER_TIMEOUT_MS)));
    const removed = (async () => {
      await this.client.delete().key(this.key);
      await lease?.revoke();
    })();
    try {
      if ((await Promise.race([removed, timedOut])) === 'timeout') throw new Error(`etcd did not answer within ${DEREGISTER_TIMEOUT_MS} ms`);
    } finally {
      clearTimeout(timer);
      this.close();
    }
  }

  close(): void {
    this.closed = true;
    this.lease?.release();
    this.client.close();
  }

  private async registerAgain(): Promise<void> {
    for (let delayMs = RETRY_BACKOFF.initialMs; !this.closed; delayMs = Math.min(delayMs * 2, RETRY_BACKOFF.maxMs)) {
      try {
        await this.register();
        this.options.log.info({ key: this.key, lease: this.leaseId }, 'registered again');
        return;
      } catch (err) {
        this.options.log.warn({ key: this.key, err: (err as Error).message }, 'cannot register; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}
