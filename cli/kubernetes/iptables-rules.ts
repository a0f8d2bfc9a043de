/** What a pod's traffic redirection needs to know (see `meshlet iptables --help`). */
export interface RedirectOptions {
  /** The sidecar's user and group: their traffic is never redirected, or the proxy would loop into itself. */
  readonly proxyUid: number;
  readonly proxyGid: number;
  /** The sidecar's inbound listener (the mesh file's sidecar.inbound_port). */
  readonly inboundPort: number;
  /** The sidecar's outbound listener (the mesh file's sidecar.outbound_port). */
  readonly outboundPort: number;
  /** Inbound destination ports that reach the pod directly. */
  readonly excludeInboundPorts: readonly number[];
  /** Outbound destination ports and IPv4 CIDRs (a.b.c.d/n) that bypass the sidecar. */
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: readonly string[];
}

const CHAINS = {
  /** PREROUTING jumps here: TCP arriving at the pod. */
  inbound: 'MESHLET_INBOUND',
  /** → the inbound listener. Also reached from OUTPUT: see below. */
  inRedirect: 'MESHLET_IN_REDIRECT',
  /** OUTPUT jumps here: TCP the pod's processes open. */
  output: 'MESHLET_OUTPUT',
  /** → the outbound listener. */
  redirect: 'MESHLET_REDIRECT',
} as const;

/**
 * The nat-table script for `iptables-restore --noflush`, as Istio's istio-iptables writes it,
 * IPv4 only. Only TCP is touched: DNS over UDP and everything else goes out as it is.
 *
 * Outbound, in order: the proxy's own connections pass (its upstreams, the control plane, its
 * inbound listener's calls to the app on 127.0.0.1), except that a connection of the proxy to the
 * pod's own address goes to the inbound listener, so a call that the mesh balanced to this very
 * pod still enters through its sidecar. The app's own loopback traffic (localhost and the pod's
 * address, both on `lo`) reaches the app directly without either listener: simpler than Istio,
 * which sends the app's calls to its own pod address through the inbound path.
 */
export function iptablesScript(options: RedirectOptions): string {
  const { inbound, inRedirect, output, redirect } = CHAINS;
  const owners = [`--uid-owner ${options.proxyUid}`, `--gid-owner ${options.proxyGid}`];
  const lines = [
    '*nat',
    ...Object.values(CHAINS).map((chain) => `:${chain} - [0:0]`),
    `-A PREROUTING -p tcp -j ${inbound}`,
    `-A OUTPUT -p tcp -j ${output}`,
    ...unique(options.excludeInboundPorts).map((port) => `-A ${inbound} -p tcp --dport ${port} -j RETURN`),
    `-A ${inbound} -p tcp -j ${inRedirect}`,
    `-A ${inRedirect} -p tcp -j REDIRECT --to-ports ${options.inboundPort}`,
    ...owners.map((owner) => `-A ${output} -o lo ! -d 127.0.0.1/32 -m owner ${owner} -j ${inRedirect}`),
    ...owners.map((owner) => `-A ${output} -m owner ${owner} -j RETURN`),
    `-A ${output} -o lo -j RETURN`,
    ...unique(options.excludeOutboundCidrs).map((cidr) => `-A ${output} -d ${cidr} -j RETURN`),
    ...unique(options.excludeOutboundPorts).map((port) => `-A ${output} -p tcp --dport ${port} -j RETURN`),
    `-A ${output} -j ${redirect}`,
    `-A ${redirect} -p tcp -j REDIRECT --to-ports ${options.outboundPort}`,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** Why `--apply` must not run for this user, or undefined when it may (root, as an init container runs it). */
export function applyRefusal(uid: number | undefined): string | undefined {
  if (uid === undefined) return 'iptables exists on Linux only';
  if (uid !== 0) {
    return `must run as root (uid 0, with NET_ADMIN and NET_RAW), not uid ${uid}: it rewrites the network namespace's nat table, as the pod's init container does`;
  }
  return undefined;
}
