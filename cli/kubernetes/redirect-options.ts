import { isIPv4 } from 'node:net';
import { SIDECAR_DEFAULTS } from '../modes/sidecar-defaults';
import type { RedirectOptions } from './iptables-rules';

/** `meshlet iptables` flags as parseArgs gives them. */
export interface RedirectFlags {
  readonly 'proxy-uid'?: string;
  readonly 'proxy-gid'?: string;
  readonly 'inbound-port'?: string;
  readonly 'outbound-port'?: string;
  readonly 'exclude-inbound-ports'?: string;
  readonly 'exclude-outbound-ports'?: string;
  readonly 'exclude-outbound-cidrs'?: string;
}

/** The sidecar's own ports that are always reachable inbound: admin (if bound wider) and the probe's health port. */
export const ALWAYS_EXCLUDED_INBOUND = [SIDECAR_DEFAULTS.adminPort, SIDECAR_DEFAULTS.healthPort];

/** Flags → RedirectOptions, or the first problem as a message naming the flag. */
export function redirectOptionsFromFlags(flags: RedirectFlags): RedirectOptions | { readonly error: string } {
  const uid = parseId(flags['proxy-uid'] ?? String(SIDECAR_DEFAULTS.uid));
  // Root's traffic would all bypass the proxy, the init step's included.
  if (uid === undefined || uid === 0) return { error: `--proxy-uid must be the proxy's non-root uid (a positive integer), got "${flags['proxy-uid']}"` };
  const gid = parseId(flags['proxy-gid'] ?? String(uid));
  if (gid === undefined || gid === 0) return { error: `--proxy-gid must be the proxy's non-root gid (a positive integer), got "${flags['proxy-gid']}"` };
  const inboundPort = parsePort(flags['inbound-port'] ?? String(SIDECAR_DEFAULTS.inboundPort));
  if (inboundPort === undefined) return { error: `--inbound-port must be a port number (1-65535), got "${flags['inbound-port']}"` };
  const outboundPort = parsePort(flags['outbound-port'] ?? String(SIDECAR_DEFAULTS.outboundPort));
  if (outboundPort === undefined) return { error: `--outbound-port must be a port number (1-65535), got "${flags['outbound-port']}"` };
  if (inboundPort === outboundPort) return { error: `--inbound-port and --outbound-port must differ (both ${inboundPort})` };

  const inboundPorts = parseList(flags, 'exclude-inbound-ports', parsePort, 'a port number (1-65535)');
  if ('error' in inboundPorts) return inboundPorts;
  const outboundPorts = parseList(flags, 'exclude-outbound-ports', parsePort, 'a port number (1-65535)');
  if ('error' in outboundPorts) return outboundPorts;
  const cidrs = parseList(flags, 'exclude-outbound-cidrs', normalizeCidr, 'an IPv4 address or CIDR (a.b.c.d/n; IPv6 is not redirected)');
  if ('error' in cidrs) return cidrs;
  return {
    proxyUid: uid,
    proxyGid: gid,
    inboundPort,
    outboundPort,
    excludeInboundPorts: [...ALWAYS_EXCLUDED_INBOUND, ...inboundPorts.values],
    excludeOutboundPorts: outboundPorts.values,
    excludeOutboundCidrs: cidrs.values,
  };
}

/** A comma-separated flag's items, each parsed, or an error naming the first bad one. */
function parseList<T>(
  flags: RedirectFlags,
  flag: keyof RedirectFlags,
  parse: (item: string) => T | undefined,
  expected: string,
): { values: T[] } | { error: string } {
  const values: T[] = [];
  for (const item of (flags[flag] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const value = parse(item);
    if (value === undefined) return { error: `--${flag}: "${item}" is not ${expected}` };
    values.push(value);
  }
  return { values };
}

function parseId(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function parsePort(text: string): number | undefined {
  const port = Number(text);
  return /^\d+$/.test(text) && port >= 1 && port <= 65535 ? port : undefined;
}

/** `a.b.c.d` → `a.b.c.d/32`, `a.b.c.d/n` as is; anything else (IPv6 included) → undefined. */
function normalizeCidr(text: string): string | undefined {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || !isIPv4(address!)) return undefined;
  if (bits === undefined) return `${address}/32`;
  return /^\d+$/.test(bits) && Number(bits) <= 32 ? text : undefined;
}
