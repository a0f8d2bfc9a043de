import { MODE_ENV } from '../modes/mode-options';
import { REGISTRATION_ENV } from '../modes/registration-options';
import { SIDECAR_DEFAULTS } from '../modes/sidecar-defaults';
import { preStopScript, waitReadyScript } from './lifecycle-scripts';
import { VERSION_LABEL } from './injection-annotations';
import type { PodRegistration } from './registration-decision';

const VERSION: string = require('../../../package.json').version;

export const PROXY_CONTAINER = 'meshlet-proxy';
export const INIT_CONTAINER = 'meshlet-init';
export const DEFAULT_IMAGE = `ghcr.io/meshlet/meshlet:${VERSION}`;
/** The Service of examples/kubernetes/control-plane.yaml. */
export const DEFAULT_XDS_ADDRESS = 'meshlet-control-plane.meshlet-system.svc:18000';

/** How long the sidecar's postStart waits for its first config before failing the container. */
const START_TIMEOUT_S = 120;
/**
 * How long the sidecar keeps serving after the pod is told to stop, before it gets SIGTERM and
 * drains: the app gets SIGTERM at once and may still call out while it shuts down, and peers
 * keep sending until they learn that the pod's endpoint is gone.
 */
const STOP_DELAY_S = 5;

export interface SidecarSettings {
  readonly image: string;
  /** The control plane, HOST:PORT[,HOST:PORT...]. */
  readonly xdsAddress: string;
  /**
   * `inject --register`: the mesh's etcd, etcd://HOST:PORT[,...], where each sidecar registers
   * its pod while it is LIVE. Undefined: no registration (and nothing about it in the pod).
   */
  readonly register?: string;
}

/**
 * The sidecar: `proxy --mode sidecar` configured through the environment (the downward API gives
 * it the pod's name and namespace for its node id), first among the containers. With
 * `registration` (and settings.register), it registers the pod's IP and the app's port, and the
 * pod's `version` label if it has one.
 */
export function proxyContainer(settings: SidecarSettings, service: string, registration?: PodRegistration): object {
  const { adminPort, healthPort, inboundPort, outboundPort, uid } = SIDECAR_DEFAULTS;
  return {
    name: PROXY_CONTAINER,
    image: settings.image,
    args: ['proxy', '--mode', 'sidecar'],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: MODE_ENV['xds-address'], value: settings.xdsAddress },
      { name: MODE_ENV.service, value: service },
      // $(VAR) expands variables listed above it.
      { name: MODE_ENV['node-id'], value: '$(POD_NAME).$(POD_NAMESPACE)' },
      ...(settings.register === undefined || registration === undefined ? [] : registrationEnv(settings.register, registration)),
    ],
    ports: [
      { name: 'mesh-outbound', containerPort: outboundPort },
      { name: 'mesh-inbound', containerPort: inboundPort },
      { name: 'mesh-admin', containerPort: adminPort },
      { name: 'mesh-health', containerPort: healthPort },
    ],
    // Admin is on loopback; the health listener forwards GET /ready to it.
    readinessProbe: { httpGet: { path: '/ready', port: healthPort }, periodSeconds: 2, failureThreshold: 3 },
    lifecycle: {
      // The kubelet starts containers in order and waits for each postStart to finish: with the
      // sidecar first, the app starts once the proxy has its config (Istio's
      // holdApplicationUntilProxyStarts).
      postStart: { exec: { command: ['node', '-e', waitReadyScript(`http://127.0.0.1:${adminPort}/ready`, START_TIMEOUT_S)] } },
      // /healthcheck/fail, not /drain_listeners: that would close the outbound listener while the
      // app may still be finishing requests that call other services. SIGTERM, after the delay,
      // drains; the registration (--register) is left at once, as the app is told to stop.
      preStop: { exec: { command: ['node', '-e', preStopScript(`http://127.0.0.1:${adminPort}/healthcheck/fail`, STOP_DELAY_S)] } },
    },
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
    securityContext: {
      runAsUser: uid,
      runAsGroup: uid,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** `proxy --mode sidecar --register`'s settings, as the environment variables it falls back to. */
function registrationEnv(registry: string, registration: PodRegistration): object[] {
  return [
    { name: REGISTRATION_ENV.register, value: registry },
    { name: REGISTRATION_ENV['register-address'], valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: REGISTRATION_ENV['register-port'], value: String(registration.port) },
    // Only when the template has the label: a missing label reads as "", which the sidecar takes as unset anyway.
    ...(registration.versioned ? [{ name: REGISTRATION_ENV['register-version'], valueFrom: { fieldRef: { fieldPath: `metadata.labels['${VERSION_LABEL}']` } } }] : []),
  ];
}

/**
 * The init step: the same image, as root with the two network capabilities iptables needs, sets
 * up the redirection and exits. It goes last among the init containers, so the app's own init
 * containers (migrations, downloads) run before the redirection, when no proxy would answer.
 */
export function initContainer(settings: SidecarSettings, iptablesArgs: readonly string[]): object {
  const { inboundPort, outboundPort, uid } = SIDECAR_DEFAULTS;
  return {
    name: INIT_CONTAINER,
    image: settings.image,
    args: ['iptables', '--apply', '--proxy-uid', String(uid), '--inbound-port', String(inboundPort), '--outbound-port', String(outboundPort), ...iptablesArgs],
    resources: { requests: { cpu: '10m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}
