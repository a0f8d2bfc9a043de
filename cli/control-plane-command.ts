import { parseArgs } from 'node:util';
import { ConfigError } from '../xds/config-error';
import { ControlPlane, loadMesh } from '../xds/control-plane/control-plane';
import { createLogger, LOG_LEVELS, type LogLevel } from '../proxy/log';
import { formatConfigError } from './format-config-error';

const USAGE = `Usage: meshlet control-plane --config <mesh.yaml> [options]

Serves Envoy v3 xDS over ADS (state of the world and incremental) from a mesh file, and pushes
changes to the nodes they concern when the file changes. See examples/mesh.yaml for the format.

Nodes are told apart by node.cluster: a service's name makes the node that service's sidecar,
a gateway's name makes it that gateway; any other node (e.g. a proxyless gRPC client) gets the
mesh's clusters and routes, and an API listener per service when it asks for one by name.

With mTLS in the mesh file, the control plane is the mesh CA: every sidecar and gateway gets a
key and certificate of its own for its SPIFFE identity over SDS on its ADS stream, renewed at
half-life. The identity follows from node.cluster and the ADS stream is not authenticated, so
only trusted proxies may reach the ADS port.

Options:
  -c, --config <file>      the mesh file (required); watched for changes
  -p, --port <port>        ADS gRPC port (default: 18000)
      --admin-port <port>  HTTP port for /ready, /stats/prometheus, /config_dump (default: none)
      --address <ip>       address both listen on (default: 127.0.0.1)
      --validate           check the mesh file, its CA directory (mtls.ca_dir) and the resources
                           it generates, print every problem found, exit 0 if valid and 1 if not
  -l, --log-level <level>  ${LOG_LEVELS.join(' | ')} (default: info)
  -h, --help               show this help

A mesh file edit that does not validate is logged (file, path, reason) and the last good mesh
keeps being served. SIGTERM and SIGINT stop the server.
`;

export async function controlPlaneCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p', default: '18000' },
        'admin-port': { type: 'string' },
        address: { type: 'string', default: '127.0.0.1' },
        validate: { type: 'boolean', default: false },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    return usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.config === undefined) return usageError('--config is required');
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const port = parsePort(values.port);
  if (port === undefined) return usageError('--port must be a port number (0-65535)');
  const adminPort = values['admin-port'] === undefined ? undefined : parsePort(values['admin-port']);
  if (values['admin-port'] !== undefined && adminPort === undefined) return usageError('--admin-port must be a port number (0-65535)');

  if (values.validate) {
    try {
      const { mesh, snapshots } = loadMesh(values.config);
      process.stdout.write(`${values.config}: valid (${mesh.services.length} services, ${mesh.gateways.length} gateways, ${snapshots.size} node roles)\n`);
      return 0;
    } catch (err) {
      return configProblem(values.config, err);
    }
  }

  const log = createLogger(level);
  let plane: ControlPlane;
  try {
    plane = await ControlPlane.start({ meshFile: values.config, address: values.address, port, adminPort, log });
  } catch (err) {
    if (err instanceof ConfigError) return configProblem(values.config, err);
    process.stderr.write(`meshlet control-plane: ${(err as Error).message}\n`);
    return 1;
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    void plane.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}

function parsePort(text: string): number | undefined {
  const port = Number(text);
  return /^\d+$/.test(text) && port <= 65535 ? port : undefined;
}

function usageError(message: string): number {
  process.stderr.write(`meshlet control-plane: ${message}\n\n${USAGE}`);
  return 2;
}

function configProblem(file: string, err: unknown): number {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(formatConfigError(file, err));
  return 1;
}
