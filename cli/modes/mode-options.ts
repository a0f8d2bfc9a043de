import { isIP } from 'node:net';
import { REGISTRATION_FLAGS, resolveRegistration, type SidecarRegistrationOptions } from './registration-options';
import { SIDECAR_DEFAULTS } from './sidecar-defaults';
import { parseHostPorts, type HostPort } from './xds-address';

export const PROXY_MODES = ['sidecar', 'gateway'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** What `meshlet proxy --mode` builds its bootstrap from. */
export interface ModeOptions {
  readonly mode: ProxyMode;
  /** node.cluster: the mesh service (sidecar) or gateway this proxy is, as the control plane knows it. */
  readonly service: string;
  readonly nodeId: string;
  /** The control plane's endpoints, in order. */
  readonly xds: readonly HostPort[];
  readonly admin: { readonly address: string; readonly port: number };
  /** A listener answering only /ready on every address, or none. */
  readonly healthPort: number | undefined;
  readonly locality: { readonly region?: string; readonly zone?: string } | undefined;
  /** DELTA_GRPC (incremental) instead of GRPC (state of the world). */
  readonly delta: boolean;
  /** --register: the pod's endpoint, registered in etcd while the proxy is LIVE (sidecar only). */
  readonly registration: SidecarRegistrationOptions | undefined;
  /** --xds-ca (with --xds-cert, --xds-key, --xds-san): (m)TLS to the control plane; plaintext when absent. */
  readonly xdsTls?: XdsTlsFiles;
}

/** PEM files the ADS cluster's UpstreamTlsContext names (a Kubernetes Secret mounted in the pod), and the control plane's SPIFFE ID. */
export interface XdsTlsFiles {
  readonly caFile: string;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly san: string | undefined;
}

/** The `proxy` flags that only mean something with --mode (spread into its parseArgs options). */
export const MODE_FLAGS = {
  'xds-address': { type: 'string' },
  service: { type: 'string' },
  'node-id': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-address': { type: 'string' },
  'health-port': { type: 'string' },
  zone: { type: 'string' },
  region: { type: 'string' },
  delta: { type: 'boolean' },
  'xds-cert': { type: 'string' },
  'xds-key': { type: 'string' },
  'xds-ca': { type: 'string' },
  'xds-san': { type: 'string' },
  'print-bootstrap': { type: 'boolean' },
  ...REGISTRATION_FLAGS,
} as const;

export type ModeFlags = { readonly [K in keyof typeof MODE_FLAGS]?: (typeof MODE_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/**
 * Where each flag falls back to when it is not given: a Kubernetes container sets these from the
 * downward API, and the same image runs with no arguments beyond `proxy --mode sidecar`.
 */
export const MODE_ENV = {
  'xds-address': 'MESHLET_XDS_ADDRESS',
  service: 'MESHLET_SERVICE',
  'node-id': 'MESHLET_NODE_ID',
  zone: 'MESHLET_ZONE',
  region: 'MESHLET_REGION',
  'xds-cert': 'MESHLET_XDS_CERT',
  'xds-key': 'MESHLET_XDS_KEY',
  'xds-ca': 'MESHLET_XDS_CA',
  'xds-san': 'MESHLET_XDS_SAN',
} as const satisfies Partial<Record<keyof typeof MODE_FLAGS, string>>;

/** Flags (then environment, then defaults) → ModeOptions, or a message for the operator. */
export function resolveModeOptions(
  mode: string,
  flags: ModeFlags,
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
): ModeOptions | { readonly error: string } {
  if (!(PROXY_MODES as readonly string[]).includes(mode)) return { error: `--mode must be one of ${PROXY_MODES.join(', ')}, got "${mode}"` };
  const proxyMode = mode as ProxyMode;
  // An empty variable (a Kubernetes env entry with no value) counts as unset.
  const setting = (flag: keyof typeof MODE_ENV): string | undefined => flags[flag] || env[MODE_ENV[flag]] || undefined;
  const service = setting('service');
  if (service === undefined) {
    return { error: `--service (or ${MODE_ENV.service}) is required: the mesh service (sidecar) or gateway name this proxy serves` };
  }
  const xdsText = setting('xds-address');
  if (xdsText === undefined) return { error: `--xds-address (or ${MODE_ENV['xds-address']}) is required: the control plane's HOST:PORT` };
  const xds = parseHostPorts(xdsText);
  if (typeof xds === 'string') return { error: `--xds-address: ${xds}` };

  const adminPort = parsePort(flags['admin-port'] ?? String(SIDECAR_DEFAULTS.adminPort), 1);
  if (adminPort === undefined) return { error: '--admin-port must be a port number (1-65535)' };
  // A sidecar's admin can drain and stop it, so only the pod itself reaches it; a gateway's is
  // its operators' (and the kubelet probes it directly).
  const adminAddress = flags['admin-address'] ?? (proxyMode === 'sidecar' ? '127.0.0.1' : '0.0.0.0');
  if (isIP(adminAddress) === 0) return { error: `--admin-address must be an IP address, got "${adminAddress}"` };
  const healthPort = parsePort(flags['health-port'] ?? String(proxyMode === 'sidecar' ? SIDECAR_DEFAULTS.healthPort : 0), 0);
  if (healthPort === undefined) return { error: '--health-port must be a port number (0 for none)' };

  const xdsTls = resolveXdsTls(setting('xds-ca'), setting('xds-cert'), setting('xds-key'), setting('xds-san'));
  if (xdsTls !== undefined && 'error' in xdsTls) return xdsTls;

  const zone = setting('zone');
  const region = setting('region');
  const registration = resolveRegistration(flags, env, { mode: proxyMode, service, zone, region });
  if (registration !== undefined && 'error' in registration) return registration;
  return {
    mode: proxyMode,
    service,
    nodeId: setting('node-id') ?? `${service}-${hostname}`,
    xds,
    admin: { address: adminAddress, port: adminPort },
    healthPort: healthPort === 0 ? undefined : healthPort,
    locality: zone === undefined && region === undefined ? undefined : { ...(region !== undefined && { region }), ...(zone !== undefined && { zone }) },
    delta: flags.delta === true,
    registration,
    ...(xdsTls && { xdsTls }),
  };
}

function resolveXdsTls(caFile?: string, certFile?: string, keyFile?: string, san?: string): XdsTlsFiles | { readonly error: string } | undefined {
  if (caFile === undefined && certFile === undefined && keyFile === undefined && san === undefined) return undefined;
  if (caFile === undefined) return { error: "--xds-ca is required for TLS to the control plane: the CA its certificate is verified against" };
  if ((certFile === undefined) !== (keyFile === undefined)) return { error: '--xds-cert and --xds-key go together' };
  return { caFile, certFile, keyFile, san };
}

function parsePort(text: string, min: number): number | undefined {
  const port = Number(text);
  return /^\d+$/.test(text) && port >= min && port <= 65535 ? port : undefined;
}
