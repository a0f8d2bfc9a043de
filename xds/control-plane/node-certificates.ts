/**
 * The certificates of the nodes on ADS streams. Each stream's node gets a key and certificate
 * of its own (replicas of a service never share a key) for its role's SPIFFE ID: issued when
 * it first asks for its secrets, issued again at once when the mesh gives it another identity
 * or CA, and renewed at half its lifetime, when the node is told to fetch its secrets again.
 */
import type { WorkloadCertificate } from '../../certs/workload-certificate';
import { issueWorkloadCertificate } from '../../certs/workload-certificate';
import { renewalDelayMs } from '../../certs/rotation';
import { SECRET } from '../xds-resource-types';
import type { CertificateIssuer } from './mesh-ca';
import { CERTIFICATE_SECRET, TRUST_BUNDLE_SECRET, certificateSecret } from './secret-resources';
import { encodeResource, type ResourceSet, type VersionedResource } from './snapshot';

/** Allowance for peers whose clocks run behind the control plane's: notBefore is this much earlier. */
const CLOCK_SKEW_MS = 60_000;
/** After a failed issue, e.g. a CA whose intermediate expires too soon to sign. */
const RETRY_MS = 10_000;

export type IssueReason = 'initial' | 'rotation';

export interface CertificateEvents<Node> {
  issued(node: Node, certificate: WorkloadCertificate, reason: IssueReason): void;
  failed(node: Node, spiffeId: string, err: Error): void;
  /** A renewal (or a retry) is due: the node's secrets should be pushed, which issues it. */
  due(node: Node): void;
}

interface Held {
  readonly spiffeId: string;
  /** The CA's signing certificate: a CA read again from ca_dir is the same CA if this is. */
  readonly caCertPem: string;
  /** Undefined while the first issue for this identity and CA keeps failing. */
  readonly issued?: { readonly certificate: WorkloadCertificate; readonly secret: VersionedResource };
  readonly due: boolean;
  readonly timer: NodeJS.Timeout;
}

const NO_SECRETS: ResourceSet = new Map();

export class NodeCertificates<Node> {
  private readonly held = new Map<Node, Held>();

  constructor(private readonly events: CertificateEvents<Node>) {}

  /**
   * The secrets `node` is served: its certificate for `spiffeId` and the trust bundle, or only
   * the bundle for a node without an identity, or nothing when the mesh has no mTLS (no issuer).
   */
  secrets(node: Node, issuer: CertificateIssuer | undefined, spiffeId: string | undefined): ResourceSet {
    if (issuer === undefined || spiffeId === undefined) {
      this.forget(node);
      return issuer === undefined ? NO_SECRETS : new Map([[TRUST_BUNDLE_SECRET, issuer.trustBundle]]);
    }
    const held = this.held.get(node);
    const current = held?.spiffeId === spiffeId && held.caCertPem === issuer.ca.signingCertPem ? held : undefined;
    const served = current === undefined || current.due ? this.issue(node, issuer, spiffeId, current) : current;
    const certificate = served.issued?.secret;
    return new Map([...(certificate ? [[CERTIFICATE_SECRET, certificate] as const] : []), [TRUST_BUNDLE_SECRET, issuer.trustBundle]]);
  }

  /** The node's stream ended (or it no longer has an identity): its key is dropped. */
  forget(node: Node): void {
    clearTimeout(this.held.get(node)?.timer);
    this.held.delete(node);
  }

  forgetAll(): void {
    for (const node of [...this.held.keys()]) this.forget(node);
  }

  certificateOf(node: Node): WorkloadCertificate | undefined {
    return this.held.get(node)?.issued?.certificate;
  }

  earliestExpiry(): Date | undefined {
    const expiries = [...this.held.values()].flatMap((h) => (h.issued ? [h.issued.certificate.notAfter.getTime()] : []));
    return expiries.length === 0 ? undefined : new Date(Math.min(...expiries));
  }

  /** `renewing`: the node's certificate for this identity and CA, which stays served if the new one cannot be issued. */
  private issue(node: Node, issuer: CertificateIssuer, spiffeId: string, renewing: Held | undefined): Held {
    clearTimeout(this.held.get(node)?.timer);
    const base = { spiffeId, caCertPem: issuer.ca.signingCertPem, due: false };
    let held: Held;
    try {
      // cert_ttl counts from now: the clock skew allowance comes on top, and renewal is half-way from now.
      const now = Date.now();
      const certificate = issueWorkloadCertificate(issuer.ca, { spiffeId, notBefore: new Date(now - CLOCK_SKEW_MS), ttlMs: issuer.certTtlMs + CLOCK_SKEW_MS });
      const secret = encodeResource(SECRET, certificateSecret(certificate));
      held = { ...base, issued: { certificate, secret }, timer: this.dueIn(node, renewalDelayMs(new Date(now), certificate.notAfter, now)) };
      this.held.set(node, held);
      this.events.issued(node, certificate, renewing ? 'rotation' : 'initial');
    } catch (err) {
      held = { ...base, issued: renewing?.issued, timer: this.dueIn(node, RETRY_MS) };
      this.held.set(node, held);
      this.events.failed(node, spiffeId, err as Error);
    }
    return held;
  }

  private dueIn(node: Node, delayMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const held = this.held.get(node);
      if (held?.timer !== timer) return;
      this.held.set(node, { ...held, due: true });
      this.events.due(node);
    }, delayMs);
    // Renewals never keep a stopping process alive.
    timer.unref();
    return timer;
  }
}
