/**
 * When to renew a certificate: at half its lifetime, as Istio and SPIRE do, which leaves the
 * second half to retry through a CA outage before the old certificate expires.
 */
export function renewalDelayMs(notBefore: Date, notAfter: Date, nowMs: number): number {
  const halfLife = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) / 2;
  return Math.max(0, Math.round(halfLife - nowMs));
}
