import { hostname } from 'node:os';
import { stringify } from 'yaml';
import { ConfigError } from '../xds/config-error';
import { commandLine, parseCommandArgs } from './command-args';
import { formatConfigError } from './format-config-error';
import { modeBootstrap } from './modes/mode-bootstrap';
import { MODE_ENV, MODE_FLAGS, PROXY_MODES, resolveModeOptions } from './modes/mode-options';
import { DEFAULT_REGISTER_TTL, REGISTRATION_ENV, type SidecarRegistrationOptions } from './modes/registration-options';
import { SidecarRegistration } from './modes/sidecar-registration';
import { ETCD_PASSWORD_ENV } from './registry-options';
import { DEFAULT_PREFIX } from '../xds/control-plane/registry/etcd-keys';
import { SIDECAR_DEFAULTS } from './modes/sidecar-defaults';
import { loadBootstrapFile, parseBootstrap, type BootstrapConfig } from '../proxy/config/bootstrap';
import { createLogger, LOG_LEVELS, type LogLevel } from '../proxy/log';
import cluster from 'node:cluster';
import { ProxyServer, type ProcessRole } from '../proxy/server';
import { reportToPrimary, superviseWorkers } from '../proxy/workers';

const USAGE = `Usage: meshlet proxy --config <bootstrap.yaml> [options]
       meshlet proxy --mode sidecar|gateway --xds-address <host:port> --service <name> [options]

Runs the proxy from an Envoy v3 bootstrap file (YAML or JSON, Envoy's field names), or, with
--mode, from a bootstrap it builds: node identity and the control plane's address, everything
else over ADS (the control plane gives a service's name its sidecar, a gateway's name that gateway).

Options:
  -c, --config <file>      Envoy v3 bootstrap
      --validate           Check the config, print every problem found, exit 0 if valid and 1 if not
  -l, --log-level <level>  ${LOG_LEVELS.join(' | ')} (default: info)
      --drain-time-s <s>   On SIGTERM or /quitquitquit, how long in-flight requests may finish (default: 5)
      --max-active-requests <n>
                           Requests in flight (per process) past which new ones are shed with 503 OM (default: no limit;
                           the overload manager also sheds when the V8 heap is 95% full)
      --workers <n>        Worker processes sharing the listeners, one core each (default: 1 = one process);
                           admin then runs in the primary and /stats/prometheus sums all workers
  -h, --help               Show this help

Mode options (instead of --config; a flag not given falls back to the environment variable named):
      --mode <mode>            ${PROXY_MODES.join(' | ')}
      --xds-address <h:p,...>  the control plane, HOST:PORT, a comma-separated list in order  [${MODE_ENV['xds-address']}]
                               (a DNS name, such as a Kubernetes Service, is resolved: STRICT_DNS)
      --service <name>         node.cluster: the service (sidecar) or gateway name  [${MODE_ENV.service}]
      --node-id <id>           node.id (default: <service>-<hostname>)  [${MODE_ENV['node-id']}]
      --zone <zone>            node.locality.zone  [${MODE_ENV.zone}]
      --region <region>        node.locality.region  [${MODE_ENV.region}]
      --admin-port <port>      admin port (default: ${SIDECAR_DEFAULTS.adminPort})
      --admin-address <ip>     admin address (default: 127.0.0.1 for a sidecar, as admin can stop it; 0.0.0.0 for a gateway)
      --health-port <port>     a listener on 0.0.0.0 answering only GET /ready, for probes that cannot reach
                               a loopback admin (default: ${SIDECAR_DEFAULTS.healthPort} for a sidecar, none for a gateway; 0: none)
      --delta                  incremental xDS (DELTA_GRPC) instead of state of the world (GRPC)
      --xds-ca <file>          TLS to the control plane, verified against this CA (PEM)  [${MODE_ENV['xds-ca']}]
      --xds-cert <file>        with --xds-key: this proxy's bootstrap identity, which a control plane with
      --xds-key <file>         --client-ca checks against the node.cluster it claims  [${MODE_ENV['xds-cert']}, ${MODE_ENV['xds-key']}]
      --xds-san <spiffe-id>    the control plane's SPIFFE ID, checked in its certificate  [${MODE_ENV['xds-san']}]
      --print-bootstrap        print the generated bootstrap as YAML and exit

Registration (sidecar): the pod's endpoint in the mesh's etcd registry, as 'meshlet register' does,
under <prefix>/endpoints/<service>/<address>:<port> with --zone and --region; registered once the
proxy is ready (/ready LIVE), retried with backoff while etcd is out of reach, deregistered first
when it drains (SIGTERM, /quitquitquit), before its listeners stop; after kill -9 it expires.
      --register <url>         etcd://HOST:PORT[,HOST:PORT...]: register there  [${REGISTRATION_ENV.register}]
      --register-address <ip>  the endpoint's address: the pod's IP  [${REGISTRATION_ENV['register-address']}]
      --register-port <port>   the endpoint's port: the app's (iptables sends it to the sidecar)  [${REGISTRATION_ENV['register-port']}]
      --register-version <v>   the endpoint's version label, for routes' subsets  [${REGISTRATION_ENV['register-version']}]
      --register-ttl <d>       how long the key outlives a killed proxy, whole seconds (default: ${DEFAULT_REGISTER_TTL})  [${REGISTRATION_ENV['register-ttl']}]
      --register-prefix <key>  the mesh's keys are under <key>/ (default: ${DEFAULT_PREFIX})  [${REGISTRATION_ENV['register-prefix']}]
      --etcd-cacert <file>     TLS to etcd, verified against this CA (PEM); plaintext without it  [${REGISTRATION_ENV['etcd-cacert']}]
      --etcd-cert <file>       with --etcd-key: the client certificate etcd's --client-cert-auth asks for  [${REGISTRATION_ENV['etcd-cert']}]
      --etcd-key <file>        [${REGISTRATION_ENV['etcd-key']}]
      --etcd-user <name>       etcd auth as this user; the password is read from ${ETCD_PASSWORD_ENV}  [${REGISTRATION_ENV['etcd-user']}]

Signals: SIGTERM and SIGINT drain (readiness turns 503 DRAINING, the registration if any is
deleted, listeners stop accepting, in-flight requests finish) and exit 0.
`;

const { help, usageError } = commandLine('proxy', USAGE);

export async function proxyCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs(args, {
    config: { type: 'string', short: 'c' },
    validate: { type: 'boolean', default: false },
    'log-level': { type: 'string', short: 'l', default: 'info' },
    'drain-time-s': { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
    'max-active-requests': { type: 'string' },
    mode: { type: 'string' },
    ...MODE_FLAGS,
  });
  // Unlike the other commands', a flag parseArgs refuses is a failure (main prints it, exit 1), without the usage text.
  if (parsed.kind === 'error') throw new Error(parsed.message);
  if (parsed.kind === 'help') return help();
  const { values } = parsed;
  if (values.config !== undefined && values.mode !== undefined) return usageError('--config and --mode are alternatives: give one');
  if (values.config === undefined && values.mode === undefined) return usageError('--config or --mode is required');
  const strayFlag = values.mode === undefined ? Object.keys(MODE_FLAGS).find((flag) => values[flag as keyof typeof MODE_FLAGS] !== undefined) : undefined;
  if (strayFlag !== undefined) return usageError(`--${strayFlag} goes with --mode (a --config bootstrap says it all)`);
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    process.stderr.write(`meshlet proxy: --log-level must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }
  const drainTimeS = Number(values['drain-time-s']);
  if (!Number.isFinite(drainTimeS) || drainTimeS < 0) {
    process.stderr.write('meshlet proxy: --drain-time-s must be a non-negative number\n');
    return 2;
  }

  const maxActiveRequests = values['max-active-requests'] === undefined ? undefined : Number(values['max-active-requests']);
  if (maxActiveRequests !== undefined && (!Number.isInteger(maxActiveRequests) || maxActiveRequests < 1)) {
    process.stderr.write('meshlet proxy: --max-active-requests must be a positive integer\n');
    return 2;
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write('meshlet proxy: --workers must be a positive integer\n');
    return 2;
  }

  // A --mode bootstrap then goes the way of a file's: the same parser, checks and start.
  const source = values.config ?? `--mode ${values.mode}`;
  let generated: object | undefined;
  let registration: SidecarRegistrationOptions | undefined;
  if (values.mode !== undefined) {
    const options = resolveModeOptions(values.mode, values, process.env, hostname());
    if ('error' in options) return usageError(options.error);
    generated = modeBootstrap(options);
    registration = options.registration;
    if (values['print-bootstrap']) {
      process.stdout.write(stringify(generated, { aliasDuplicateObjects: false }));
      return 0;
    }
  }
  let bootstrap: BootstrapConfig;
  try {
    bootstrap = generated === undefined ? loadBootstrapFile(source) : parseBootstrap(generated);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(formatConfigError(source, err));
    return 1;
  }
  if (values.validate) {
    process.stdout.write(`${source}: valid (${bootstrap.listeners.length} listeners, ${bootstrap.clusters.length} clusters)\n`);
    return 0;
  }

  const log = createLogger(level);
  const role: ProcessRole = workers === 1 ? 'single' : cluster.isPrimary ? 'primary' : 'worker';
  const proxy = new ProxyServer(bootstrap, log, { drainTimeMs: drainTimeS * 1000, role, maxActiveRequests });
  // With --workers, the primary registers: it turns LIVE when every worker is, and drains them.
  if (registration !== undefined && role !== 'worker') {
    const sidecar = new SidecarRegistration(registration, log);
    proxy.onLive(() => sidecar.start());
    proxy.addDrainStartStep(() => sidecar.stop());
  }
  const stop = (signal: string) => void proxy.shutdown(signal).then(() => process.exit(0));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await proxy.start();
    if (role === 'primary') superviseWorkers(proxy, workers);
    if (role === 'worker') reportToPrimary(proxy);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    process.stderr.write(`meshlet proxy: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
