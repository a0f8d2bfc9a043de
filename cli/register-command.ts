import type { Logger } from 'pino';
import { parseDurationMs } from '../certs/duration';
import type { ConfigIssue } from '../xds/config-error';
import { parseMeshText } from '../xds/control-plane/mesh-file';
import { readEndpoint, readName } from '../xds/control-plane/mesh-parser';
import { etcdClient } from '../xds/control-plane/registry/etcd-client';
import { meshKey } from '../xds/control-plane/registry/etcd-keys';
import { ETCD_PARSE_OPTIONS } from '../xds/control-plane/registry/etcd-registry';
import { registerEndpoint, type RegisteredEndpoint } from '../xds/control-plane/registry/etcd-registration';
import { createLogger, LOG_LEVELS, type LogLevel } from '../proxy/log';
import { commandLine } from './command-args';
import { etcdLocation, REGISTRY_FLAGS, REGISTRY_USAGE, type EtcdLocation } from './registry-options';

const USAGE = `Usage: meshlet register --registry etcd://HOST:PORT[,...] --service <name> --address <ip> --port <port> [options]

Registers an endpoint of a service in the mesh's etcd registry for as long as this process runs:
the key <prefix>/endpoints/<service>/<address>:<port>, on a lease with the TTL that this process
keeps alive. Every control plane reading that etcd adds it to the service's endpoints.

On SIGTERM or SIGINT it deletes the key and revokes the lease, then exits 0: run it so that it
is stopped before the app, and a drained instance leaves the proxies before it stops. Killed
without that (kill -9, a lost machine), it stops renewing the lease, and etcd deletes the key
once the TTL has passed.

Options:
${REGISTRY_USAGE}
      --service <name>     the service, as the mesh document names it (required)
      --address <ip>       the endpoint's IP (required); with mTLS on, its sidecar's
      --port <port>        the endpoint's port (required); with mTLS on, its sidecar's inbound port
      --weight <n>         1 to 1000000 (default: 1)
      --version <label>    subset label that routes can target
      --zone <name>        locality
      --region <name>      locality
      --priority <n>       0 (the default) is preferred; higher only when lower ones are unhealthy
      --ttl <duration>     how long the endpoint outlives a killed process, in whole seconds:
                           10s, 1m (default: 10s)
  -l, --log-level <level>  ${LOG_LEVELS.join(' | ')} (default: info)
  -h, --help               show this help
`;

const ENDPOINT_FLAGS = ['address', 'port', 'weight', 'version', 'zone', 'region', 'priority'] as const;
const NUMERIC_FLAGS: readonly string[] = ['port', 'weight', 'priority'];

const { parse, usageError } = commandLine('register', USAGE);

export async function registerCommand(args: string[]): Promise<number> {
  const values = parse(args, {
    ...REGISTRY_FLAGS,
    service: { type: 'string' },
    address: { type: 'string' },
    port: { type: 'string' },
    weight: { type: 'string' },
    version: { type: 'string' },
    zone: { type: 'string' },
    region: { type: 'string' },
    priority: { type: 'string' },
    ttl: { type: 'string', default: '10s' },
    'log-level': { type: 'string', short: 'l', default: 'info' },
  });
  if (typeof values === 'number') return values;
  const missing = (['registry', 'service', 'address', 'port'] as const).filter((flag) => values[flag] === undefined);
  if (missing.length > 0) return usageError(`${missing.map((f) => `--${f}`).join(', ')} required`);
  const location = etcdLocation(values.registry!, values.prefix, values);
  if (typeof location === 'string') return usageError(location);
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const ttlMs = parseDurationMs(values.ttl);
  if (ttlMs === undefined || ttlMs < 1000 || ttlMs % 1000 !== 0) return usageError(`--ttl: "${values.ttl}" is not a whole number of seconds, at least 1s (10s, 1m)`);
  const issues: ConfigIssue[] = [];
  const service = readName(values.service, '--service', issues);
  const endpoint = endpointOf(values, issues);
  if (issues.length > 0 || service === undefined || endpoint === undefined) return usageError(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));

  const log = createLogger(level);
  const registration = await registerEndpoint({ ...location, service, endpoint, ttlSeconds: ttlMs / 1000, log });
  log.info({ key: registration.key, lease: registration.leaseId, ttl_s: ttlMs / 1000 }, 'registered');
  void warnIfNotInMesh(location, service, log);
  const stop = (signal: string) => {
    log.info({ signal, key: registration.key }, 'deregistering');
    registration.deregister().then(
      () => {
        log.info({ key: registration.key }, 'deregistered');
        process.exit(0);
      },
      (err: Error) => {
        log.error({ key: registration.key, err: err.message }, 'cannot deregister: the key goes when its lease expires');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}

/** The flags as the endpoint's JSON value, checked as the control plane will read it (issues name the flags). */
function endpointOf(values: Partial<Record<(typeof ENDPOINT_FLAGS)[number], string>>, issues: ConfigIssue[]): RegisteredEndpoint | undefined {
  const fields = Object.fromEntries(
    ENDPOINT_FLAGS.flatMap((flag) => {
      const text = values[flag];
      if (text === undefined) return [];
      return [[flag, NUMERIC_FLAGS.includes(flag) && /^\d+$/.test(text) ? Number(text) : text]];
    }),
  );
  const found: ConfigIssue[] = [];
  const endpoint = readEndpoint(fields, '', found);
  issues.push(...found.map((i) => ({ path: `--${i.path}`, message: i.message })));
  // Only the flags given: the control plane applies the defaults, as it does to the mesh file's endpoints.
  return endpoint && (fields as RegisteredEndpoint);
}

/**
 * A registration for a service the mesh document does not have is ignored by the control
 * planes (they log it): say so here too, where it is noticed. Not an error: the document may
 * come later.
 */
async function warnIfNotInMesh(location: EtcdLocation, service: string, log: Logger): Promise<void> {
  const client = etcdClient(location.hosts, location.access);
  try {
    const text = await client.get(meshKey(location.prefix)).string();
    const known = text !== null && parseMeshText(text, ETCD_PARSE_OPTIONS).services.some((s) => s.name === service);
    if (!known) log.warn({ service, key: meshKey(location.prefix) }, 'the mesh document has no such service: control planes ignore this endpoint until it does');
  } catch {
    // An unreadable or invalid document is the control planes' to report.
  } finally {
    client.close();
  }
}
