/** The annotations and labels `meshlet inject` reads and writes (on the pod template or the workload). */
export const ANNOTATIONS = {
  /** "false" on the workload or its pod template: leave it alone. */
  inject: 'meshlet.io/inject',
  /** The mesh service (node.cluster) the sidecar serves, when it is not the `app` label or the workload's name. */
  service: 'meshlet.io/service',
  /** Written on the pod template: injected already, so a second run leaves it as is. */
  injected: 'meshlet.io/injected',
  /** kubectl's default for logs and exec: the sidecar comes first in `containers`, so the app is named here. */
  defaultContainer: 'kubectl.kubernetes.io/default-container',
  /** With `inject --register`: "false" keeps this workload's pods out of the registry (its sidecar still runs). */
  register: 'meshlet.io/register',
  /** With `inject --register`: the port registered for peers, a number or the name of one of the app container's ports (default: its first TCP port). */
  registerPort: 'meshlet.io/register-port',
} as const;

/** With `inject --register`: the pod label whose value (through the downward API) is the registered endpoint's version, its subset. */
export const VERSION_LABEL = 'version';

/**
 * Annotations passed on to the init container's `meshlet iptables` flag of the same name. The
 * outbound listener routes mesh services only, so an app's other TCP destinations (a database,
 * the Kubernetes API) must be excluded to be reached at all.
 */
export const REDIRECT_ANNOTATIONS = {
  'meshlet.io/exclude-inbound-ports': 'exclude-inbound-ports',
  'meshlet.io/exclude-outbound-ports': 'exclude-outbound-ports',
  'meshlet.io/exclude-outbound-cidrs': 'exclude-outbound-cidrs',
} as const;
