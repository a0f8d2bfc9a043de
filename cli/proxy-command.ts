import { parseArgs } from 'node:util';
import { ConfigError } from '../xds/config-error';
import { formatConfigError } from './format-config-error';
import { loadBootstrapFile, type BootstrapConfig } from '../proxy/config/bootstrap';
import { createLogger, LOG_LEVELS, type LogLevel } from '../proxy/log';
import cluster from 'node:cluster';
import { ProxyServer, type ProcessRole } from '../proxy/server';
import { reportToPrimary, superviseWorkers } from '../proxy/workers';

const USAGE = `Usage: meshlet proxy --config <bootstrap.yaml> [options]

Runs the proxy from an Envoy v3 bootstrap file (YAML or JSON, Envoy's field names).

Options:
  -c, --config <file>      Envoy v3 bootstrap (required)
      --validate           Check the config, print every problem found, exit 0 if valid and 1 if not
  -l, --log-level <level>  ${LOG_LEVELS.join(' | ')} (default: info)
      --drain-time-s <s>   On SIGTERM or /quitquitquit, how long in-flight requests may finish (default: 5)
      --workers <n>        Worker processes sharing the listeners, one core each (default: 1 = one process);
                           admin then runs in the primary and /stats/prometheus sums all workers
  -h, --help               Show this help

Signals: SIGTERM and SIGINT drain (readiness turns 503 DRAINING, listeners stop accepting,
in-flight requests finish) and exit 0.
`;

export async function proxyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      validate: { type: 'boolean', default: false },
      'log-level': { type: 'string', short: 'l', default: 'info' },
      'drain-time-s': { type: 'string', default: '5' },
      workers: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.config === undefined) {
    process.stderr.write(`meshlet proxy: --config is required\n\n${USAGE}`);
    return 2;
  }
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

  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write('meshlet proxy: --workers must be a positive integer\n');
    return 2;
  }

  let bootstrap: BootstrapConfig;
  try {
    bootstrap = loadBootstrapFile(values.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(formatConfigError(values.config, err));
    return 1;
  }
  if (values.validate) {
    process.stdout.write(`${values.config}: valid (${bootstrap.listeners.length} listeners, ${bootstrap.clusters.length} clusters)\n`);
    return 0;
  }

  const log = createLogger(level);
  const role: ProcessRole = workers === 1 ? 'single' : cluster.isPrimary ? 'primary' : 'worker';
  const proxy = new ProxyServer(bootstrap, log, { drainTimeMs: drainTimeS * 1000, role });
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
