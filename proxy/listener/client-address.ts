import { isIPv4 } from 'node:net';

/**
 * The address Envoy treats as the original client (its "trusted client address"):
 * with use_remote_address the peer itself, unless xff_num_trusted_hops says the
 * nearest hops are our own proxies; without it, the XFF entry that many hops from
 * the right, since the edge already appended the real peer.
 */
export function trustedClientAddress(
  peer: string,
  xff: string | undefined,
  useRemoteAddress: boolean,
  trustedHops: number,
): string {
  const hopsFromRight = useRemoteAddress ? trustedHops : trustedHops + 1;
  if (hopsFromRight === 0 || xff === undefined) return peer;
  const entries = xff.split(',');
  const index = entries.length - hopsFromRight;
  return index >= 0 ? entries[index]!.trim() : peer;
}

/** RFC 1918, loopback and unique-local addresses: what Envoy calls internal (for internal_only_headers). */
export function isInternalAddress(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIPv4(v4)) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  const lower = ip.toLowerCase();
  return lower === '::1' || lower.startsWith('fc') || lower.startsWith('fd');
}
