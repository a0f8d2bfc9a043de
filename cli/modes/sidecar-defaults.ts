/**
 * The ports and user of a sidecar, in one place because three commands must agree on them:
 * `proxy --mode sidecar` binds them, `iptables` redirects to and around them, and `inject` writes
 * them into the pod (probes, the init container's arguments, the proxy's user).
 */
export const SIDECAR_DEFAULTS = {
  /** Admin (Envoy's 15000), on loopback: it can drain and stop the proxy. */
  adminPort: 15000,
  /** The app's outbound traffic is redirected here: the mesh file's default `sidecar.outbound_port`. */
  outboundPort: 15001,
  /** Inbound traffic for the app is redirected here: the mesh file's default `sidecar.inbound_port`. */
  inboundPort: 15006,
  /** Answers GET /ready only, on every address, for the kubelet's probe (Istio's 15021). */
  healthPort: 15021,
  /** The proxy's uid and gid (Istio's 1337): iptables lets this user's traffic through unredirected. */
  uid: 1337,
} as const;
