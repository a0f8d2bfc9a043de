/**
 * `meshlet proxy --mode sidecar --register etcd://...`: the sidecar registers its pod's endpoint
 * in the mesh's etcd registry itself (sidecar-registration.ts does it), as `meshlet register`
 * would beside the app. The flags are `register`'s, prefixed, and fall back to the environment
 * like the other mode flags (the pod's IP from the downward API).
 */
import { parseDurationMs } from '../../certs/duration';
import type { ConfigIssue } from '../../xds/config-error';
import { readEndpoint, readName } from '../../xds/control-plane/mesh-parser';
import { DEFAULT_PREFIX } from '../../xds/control-plane/registry/etcd-keys';
import type { EndpointRegistrationOptions, RegisteredEndpoint } from '../../xds/control-plane/registry/etcd-registration';
import { etcdLocation } from '../registry-options';

/** The registration a sidecar keeps while it lives: registerEndpoint()'s options but the logger. */
export type SidecarRegistrationOptions = Omit<EndpointRegistrationOptions, 'log'>;

export const REGISTRATION_FLAGS = {
  register: { type: 'string' },
  'register-prefix': { type: 'string' },
  'register-address': { type: 'string' },
  'register-port': { type: 'string' },
  'register-version': { type: 'string' },
  'register-ttl': { type: 'string' },
  // How to get into etcd, as the other commands that reach it take them (registry-options.ts).
  'etcd-cacert': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
} as const;

type RegistrationFlag = keyof typeof REGISTRATION_FLAGS;
type EnvFlag = keyof typeof REGISTRATION_ENV;

export const REGISTRATION_ENV = {
  register: 'MESHLET_REGISTER',
  'register-prefix': 'MESHLET_REGISTER_PREFIX',
  'register-address': 'MESHLET_POD_IP',
  'register-port': 'MESHLET_REGISTER_PORT',
  'register-version': 'MESHLET_REGISTER_VERSION',
  'register-ttl': 'MESHLET_REGISTER_TTL',
  // So that `meshlet inject` (or a pod spec by hand) can point an injected sidecar at a TLS etcd.
  'etcd-cacert': 'MESHLET_ETCD_CACERT',
  'etcd-cert': 'MESHLET_ETCD_CERT',
  'etcd-key': 'MESHLET_ETCD_KEY',
  'etcd-user': 'MESHLET_ETCD_USER',
} as const satisfies Record<RegistrationFlag, string>;

export const DEFAULT_REGISTER_TTL = '10s';

/** The endpoint's fields, and the flag each comes from (for messages). */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  address: '--register-address',
  port: '--register-port',
  version: '--register-version',
  zone: '--zone',
  region: '--region',
};

export interface RegistrationSettings {
  readonly mode: string;
  /** node.cluster: the registered service. */
  readonly service: string;
  readonly zone: string | undefined;
  readonly region: string | undefined;
}

/**
 * Flags (then environment) → what to register, `undefined` when --register (or its variable) is
 * not given, or a message for the operator. Pure but for reading the --etcd-* files; `env` also
 * holds etcd's password, if any.
 */
export function resolveRegistration(
  flags: { readonly [K in RegistrationFlag]?: string },
  env: Readonly<Record<string, string | undefined>>,
  settings: RegistrationSettings,
): SidecarRegistrationOptions | undefined | { readonly error: string } {
  // An empty variable counts as unset, as for the other mode flags.
  const setting = (flag: EnvFlag): string | undefined => flags[flag] || env[REGISTRATION_ENV[flag]] || undefined;
  const named = (flag: EnvFlag) => `--${flag} (or ${REGISTRATION_ENV[flag]})`;
  const registry = setting('register');
  if (registry === undefined) {
    // The variables may be set for other reasons (MESHLET_POD_IP); a flag is a mistake.
    const stray = (Object.keys(REGISTRATION_FLAGS) as RegistrationFlag[]).find((flag) => flags[flag] !== undefined);
    return stray === undefined ? undefined : { error: `--${stray} goes with --register etcd://HOST:PORT[,...]` };
  }
  if (settings.mode !== 'sidecar') return { error: `${named('register')} goes with --mode sidecar: a sidecar registers its pod's endpoint` };

  const access = { 'etcd-cacert': setting('etcd-cacert'), 'etcd-cert': setting('etcd-cert'), 'etcd-key': setting('etcd-key'), 'etcd-user': setting('etcd-user') };
  const location = etcdLocation(registry, setting('register-prefix') ?? DEFAULT_PREFIX, access, env as NodeJS.ProcessEnv);
  // etcdLocation names `register`'s and the control plane's flags: name this command's.
  if (typeof location === 'string') return { error: location.replace(/^--registry:/, '--register:').replace(/^--prefix:/, '--register-prefix:') };

  const issues: ConfigIssue[] = [];
  const service = readName(settings.service, '--service', issues);
  if (service === undefined) return { error: `${issues.map((i) => `${i.path}: ${i.message}`).join('; ')} (it names the registered endpoint's key)` };

  const address = setting('register-address');
  if (address === undefined) return { error: `${named('register-address')} is required with --register: the pod's IP, which peers connect to` };
  const port = setting('register-port');
  if (port === undefined) return { error: `${named('register-port')} is required with --register: the port peers connect to (the app's, redirected to the sidecar)` };
  const ttlText = setting('register-ttl') ?? DEFAULT_REGISTER_TTL;
  const ttlMs = parseDurationMs(ttlText);
  if (ttlMs === undefined || ttlMs < 1000 || ttlMs % 1000 !== 0) {
    return { error: `${named('register-ttl')}: "${ttlText}" is not a whole number of seconds, at least 1s (10s, 1m)` };
  }

  // Only what is given, as `meshlet register` writes it: the control plane applies the defaults.
  const given = { address, port: /^\d+$/.test(port) ? Number(port) : port, version: setting('register-version'), zone: settings.zone, region: settings.region };
  const fields = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  const found: ConfigIssue[] = [];
  // Checked as the control planes will read it, so that a typo fails here and not silently there.
  if (readEndpoint(fields, '', found) === undefined || found.length > 0) {
    return { error: found.map((i) => `${FIELD_FLAGS[i.path] ?? i.path}: ${i.message}`).join('; ') };
  }
  return { ...location, service, endpoint: fields as unknown as RegisteredEndpoint, ttlSeconds: ttlMs / 1000 };
}
