/**
 * `meshlet inject --register etcd://...`: whether an injected sidecar registers its pod in the
 * mesh's etcd registry (`proxy --mode sidecar --register`, configured by environment), and with
 * which port and version.
 */
import type { ConfigIssue } from '../../xds/config-error';
import { readEndpoint, readName } from '../../xds/control-plane/mesh-parser';
import { ANNOTATIONS, REDIRECT_ANNOTATIONS, VERSION_LABEL } from './injection-annotations';
import { podAnnotations } from './injection-decision';
import { ALWAYS_EXCLUDED_INBOUND } from './redirect-options';

/** The annotation that takes ports out of the inbound redirection (a registered port there bypasses the sidecar). */
const EXCLUDE_INBOUND: keyof typeof REDIRECT_ANNOTATIONS = 'meshlet.io/exclude-inbound-ports';

export interface PodRegistration {
  /** The port peers connect to: the app's, which iptables redirects to the sidecar's inbound listener. */
  readonly port: number;
  /** The pod template has the `version` label: the sidecar registers its value as the endpoint's version. */
  readonly versioned: boolean;
}

export type RegistrationDecision =
  /** Register, with a note when the operator should look at something. */
  | { readonly register: PodRegistration; readonly note?: string }
  /** Inject without registration, and say why. */
  | { readonly register: undefined; readonly note: string }
  /** Annotations or labels that cannot work: the sidecar would fail at the pod's start instead. */
  | { readonly error: string };

/**
 * What `inject --register` writes for one workload's pod: `workload` is the document and
 * `template` its pod template (for a Pod, the document itself), both as plain data; `service`
 * is the sidecar's mesh service, which names the registered key.
 *
 * The port is the annotation meshlet.io/register-port (a number, or the name of one of the app
 * container's ports), else the app container's first TCP containerPort. The app container is
 * the one kubectl.kubernetes.io/default-container names, else the first (inject names it so).
 */
export function decideRegistration(workload: any, template: any, service: string): RegistrationDecision {
  const annotations = podAnnotations(workload, template);
  const optIn = annotations[ANNOTATIONS.register];
  if (optIn !== undefined && optIn !== null) {
    // `false` unquoted is a YAML boolean: either spelling.
    const text = String(optIn);
    if (text === 'false') return { register: undefined, note: `not registered: ${ANNOTATIONS.register} is "false"` };
    if (text !== 'true') return { error: `annotation ${ANNOTATIONS.register} must be "true" or "false", got "${text}"` };
  }

  const issues: ConfigIssue[] = [];
  if (readName(service, 'service', issues) === undefined) {
    return { error: `service "${service}" cannot be registered (it names the registered etcd key): ${issues[0]!.message}` };
  }

  const containers: any[] = Array.isArray(template?.spec?.containers) ? template.spec.containers : [];
  const named = template?.metadata?.annotations?.[ANNOTATIONS.defaultContainer];
  const app = containers.find((c) => c?.name !== undefined && c.name === named) ?? containers[0];
  const appName = typeof app?.name === 'string' ? `"${app.name}"` : '(unnamed)';
  const ports: any[] = Array.isArray(app?.ports) ? app.ports : [];

  let port: number;
  const override = annotations[ANNOTATIONS.registerPort];
  if (override !== undefined && override !== null) {
    const text = String(override);
    const byName = ports.find((p) => p?.name === text)?.containerPort;
    const value = /^\d+$/.test(text) ? Number(text) : byName;
    if (!isPort(value)) {
      return { error: `annotation ${ANNOTATIONS.registerPort}: "${text}" is neither a port number (1-65535) nor the name of a port of the app container ${appName}` };
    }
    port = value;
  } else {
    const first = ports.find((p) => (p?.protocol ?? 'TCP') === 'TCP' && isPort(p?.containerPort))?.containerPort;
    if (first === undefined) {
      return {
        register: undefined,
        note:
          `not registered: the app container ${appName} lists no TCP containerPort; name the port peers connect to ` +
          `with the annotation ${ANNOTATIONS.registerPort} (or opt out with ${ANNOTATIONS.register}: "false")`,
      };
    }
    port = first;
  }

  const label = template?.metadata?.labels?.[VERSION_LABEL];
  const versioned = label !== undefined && label !== null && String(label) !== '';
  // The version as the control planes will read the registered value: a label they would
  // ignore fails here, not silently there.
  const found: ConfigIssue[] = [];
  readEndpoint({ address: '192.0.2.1', port, ...(versioned && { version: String(label) }) }, '', found);
  if (found.length > 0) return { error: `label ${VERSION_LABEL} (the registered version): ${found[0]!.message}` };

  const excluded = [...ALWAYS_EXCLUDED_INBOUND, ...String(annotations[EXCLUDE_INBOUND] ?? '').split(',').map((s) => Number(s.trim()))];
  const note = excluded.includes(port)
    ? `registers port ${port}, which is not redirected to the sidecar (${EXCLUDE_INBOUND} or the sidecar's own ports): ` +
      'peers will reach the app directly, and their mTLS, if on, fails'
    : undefined;
  return { register: { port, versioned }, ...(note !== undefined && { note }) };
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}
