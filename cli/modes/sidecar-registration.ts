/**
 * A sidecar's registration of its pod's endpoint (`proxy --mode sidecar --register`), tied to
 * the proxy's life: started when the proxy turns LIVE (its first config applied and warm, so no
 * peer is sent to a pod whose sidecar cannot route yet), retried with backoff while etcd cannot
 * be reached (the proxy serves meanwhile), and removed first when the proxy drains, before its
 * listeners stop, so peers stop sending new requests while in-flight ones finish. The etcd side
 * is registerEndpoint()'s: a key on a lease kept alive; after kill -9 the lease expires.
 */
import type { Logger } from 'pino';
import { endpointKey } from '../../xds/control-plane/registry/etcd-keys';
import { registerEndpoint, type EndpointRegistration } from '../../xds/control-plane/registry/etcd-registration';
import type { SidecarRegistrationOptions } from './registration-options';

export interface RegistrationTiming {
  /** The first wait after a failed attempt; doubled each time up to `retryMaxMs`. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /**
   * How long stop() waits for an attempt in progress (etcd slow or out of reach) before it gives
   * up; an attempt that succeeds later is deregistered at once.
   */
  readonly stopWaitMs: number;
}

const TIMING: RegistrationTiming = { retryInitialMs: 200, retryMaxMs: 5000, stopWaitMs: 5000 };

export class SidecarRegistration {
  readonly key: string;
  private registration: EndpointRegistration | undefined;
  private attempts: Promise<void> | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly options: SidecarRegistrationOptions,
    private readonly log: Logger,
    private readonly register: typeof registerEndpoint = registerEndpoint,
    private readonly timing: RegistrationTiming = TIMING,
  ) {
    this.key = endpointKey(options.prefix, options.service, options.endpoint);
  }

  /** Registers, retrying until it has or stop() is called. Once only; not after stop(). */
  start(): void {
    if (this.stopped || this.attempts !== undefined) return;
    this.attempts = this.registerUntilDone();
  }

  /**
   * Deregisters (deletes the key, revokes the lease) if registered; ends the retries if not yet.
   * Bounded: registerEndpoint()'s calls have deadlines, and deregister() gives up after 5 s
   * (the key then goes with its lease).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    if (this.attempts !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.timing.stopWaitMs)));
      await Promise.race([this.attempts, waited]).finally(() => clearTimeout(timer));
    }
    const registration = this.registration;
    this.registration = undefined;
    if (registration === undefined) return;
    await this.deregister(registration, 'draining');
  }

  private async registerUntilDone(): Promise<void> {
    let delayMs = this.timing.retryInitialMs;
    while (!this.stopped) {
      try {
        const registration = await this.register({ ...this.options, log: this.log });
        if (this.stopped) {
          // Draining started during this attempt (stop() waits for it, or has given up): leave at once.
          await this.deregister(registration, 'registered as draining started');
          return;
        }
        this.registration = registration;
        this.log.info({ key: this.key, lease: registration.leaseId, ttl_s: this.options.ttlSeconds }, 'registered');
        return;
      } catch (err) {
        this.log.warn({ key: this.key, err: (err as Error).message, retry_in_ms: delayMs }, 'cannot register; retrying');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
        delayMs = Math.min(delayMs * 2, this.timing.retryMaxMs);
      }
    }
  }

  private async deregister(registration: EndpointRegistration, reason: string): Promise<void> {
    this.log.info({ key: this.key, reason }, 'deregistering');
    try {
      await registration.deregister();
      this.log.info({ key: this.key }, 'deregistered');
    } catch (err) {
      this.log.error({ key: this.key, err: (err as Error).message }, 'cannot deregister: the key goes when its lease expires');
    }
  }
}
