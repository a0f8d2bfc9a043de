import type { Logger } from 'pino';
import { ConfigError } from '../xds/config-error';
import { ControlPlane, loadedMesh } from '../xds/control-plane/control-plane';
import { EtcdRegistry } from '../xds/control-plane/registry/etcd-registry';
import { FileRegistry } from '../xds/control-plane/registry/file-registry';
import type { MeshRegistry } from '../xds/control-plane/registry/mesh-registry';
import { createLogger, LOG_LEVELS, type LogLevel } from '../proxy/log';
import { commandLine } from './command-args';
import { formatConfigError } from './format-config-error';
import { etcdLocation, REGISTRY_FLAGS, REGISTRY_USAGE, type RegistryFlagValues } from './registry-options';

const USAGE = `Usage: meshlet control-plane (--config <mesh.yaml> | --registry etcd://HOST:PORT[,...]) [options]

Serves Envoy v3 xDS over ADS (state of the world and incremental) from a mesh file or from etcd,
and pushes changes to the nodes they concern. See examples/mesh.yaml for the format.

From etcd (--registry), the mesh document is <prefix>/mesh (written by \`meshlet mesh apply\`),
and a service's endpoints are the document's and those its instances register under
<prefix>/endpoints/<service>/ (\`meshlet register\`). Replicas pointed at the same etcd serve
the same mesh; relative paths in it (mtls.ca_dir, gateway certificates) are found from the
working directory.

Nodes are told apart by node.cluster: a service's name makes the node that service's sidecar,
a gateway's name makes it that gateway; any other node (e.g. a proxyless gRPC client) gets the
mesh's clusters and routes, and an API listener per service when it asks for one by name.

With mTLS in the mesh file, the control plane is the mesh CA: every sidecar and gateway gets a
key and certificate of its own for its SPIFFE identity over SDS on its ADS stream, renewed at
half-life. The identity follows from node.cluster and the ADS stream is not authenticated, so
only trusted proxies may reach the ADS port.

Options:
  -c, --config <file>      the mesh file; watched for changes
${REGISTRY_USAGE}
  -p, --port <port>        ADS gRPC port (default: 18000)
      --admin-port <port>  HTTP port for /ready, /stats/prometheus, /config_dump (default: none)
      --address <ip>       address both listen on (default: 127.0.0.1)
      --validate           check the mesh (file or etcd), its CA directory (mtls.ca_dir) and the
                           resources it generates, print every problem found, exit 0 if valid and 1
                           if not
  -l, --log-level <level>  ${LOG_LEVELS.join(' | ')} (default: info)
  -h, --help               show this help

A change that does not validate is logged (file or etcd key, path, reason) and the last good
mesh keeps being served; so is the last mesh while etcd cannot be reached. SIGTERM and SIGINT
stop the server.
`;

const { parse, usageError } = commandLine('control-plane', USAGE);

export async function controlPlaneCommand(args: string[]): Promise<number> {
  const values = parse(args, {
    config: { type: 'string', short: 'c' },
    ...REGISTRY_FLAGS,
    port: { type: 'string', short: 'p', default: '18000' },
    'admin-port': { type: 'string' },
    address: { type: 'string', default: '127.0.0.1' },
    validate: { type: 'boolean', default: false },
    'log-level': { type: 'string', short: 'l', default: 'info' },
  });
  if (typeof values === 'number') return values;
  if ((values.config === undefined) === (values.registry === undefined)) return usageError('exactly one of --config and --registry is required');
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) return usageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const log = createLogger(level);
  const registry = meshRegistry(values.config, values, log);
  if (typeof registry === 'string') return usageError(registry);
  const port = parsePort(values.port);
  if (port === undefined) return usageError('--port must be a port number (0-65535)');
  const adminPort = values['admin-port'] === undefined ? undefined : parsePort(values['admin-port']);
  if (values['admin-port'] !== undefined && adminPort === undefined) return usageError('--admin-port must be a port number (0-65535)');

  if (values.validate) return validate(registry);

  let plane: ControlPlane;
  try {
    plane = await ControlPlane.start({ registry, address: values.address, port, adminPort, log });
  } catch (err) {
    return startFailed(registry, err);
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    void plane.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}

/** The registry the flags name (exactly one of `config`, `registry` is given), or what is wrong with them. */
function meshRegistry(config: string | undefined, flags: RegistryFlagValues, log: Logger): MeshRegistry | string {
  if (config !== undefined) return new FileRegistry(config);
  const location = etcdLocation(flags.registry!, flags.prefix, flags);
  return typeof location === 'string' ? location : new EtcdRegistry({ ...location, log });
}

/** Reads the mesh once, as a start would, and says whether it would serve. */
async function validate(registry: MeshRegistry): Promise<number> {
  try {
    const { mesh, snapshots } = loadedMesh(await registry.start(ignore, ignore), registry.baseDir);
    process.stdout.write(`${registry.source}: valid (${mesh.services.length} services, ${mesh.gateways.length} gateways, ${snapshots.size} node roles)\n`);
    return 0;
  } catch (err) {
    return startFailed(registry, err);
  } finally {
    await registry.close();
  }
}

function ignore(): void {}

function startFailed(registry: MeshRegistry, err: unknown): number {
  if (err instanceof ConfigError) return configProblem(registry.source, err);
  process.stderr.write(`meshlet control-plane: ${(err as Error).message}\n`);
  return 1;
}

function parsePort(text: string): number | undefined {
  const port = Number(text);
  return /^\d+$/.test(text) && port <= 65535 ? port : undefined;
}

function configProblem(source: string, err: ConfigError): number {
  process.stderr.write(formatConfigError(source, err));
  return 1;
}
