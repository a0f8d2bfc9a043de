import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AdsServerTls } from '../xds/control-plane/ads-server';
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
half-life. The identity follows from node.cluster: without --client-ca the ADS stream is not
authenticated, so only trusted proxies may reach the ADS port. With --tls-cert, --tls-key and
--client-ca, ADS is served over mutual TLS: every proxy needs a client certificate of that CA
(e.g. from \`meshlet certs issue\`), and a stream whose node.cluster claims a service or gateway
is refused (PERMISSION_DENIED) unless the certificate's SPIFFE ID is that role's identity.

Options:
  -c, --config <file>      the mesh file; watched for changes
${REGISTRY_USAGE}
  -p, --port <port>        ADS gRPC port (default: 18000)
      --admin-port <port>  HTTP port for /ready, /stats/prometheus, /config_dump (default: none)
      --address <ip>       address both listen on (default: 127.0.0.1)
      --tls-cert <file>    with --tls-key: serve ADS over TLS with this certificate chain (PEM)
      --tls-key <file>     its private key (PEM)
      --client-ca <file>   with --tls-cert: require every ADS client to present a certificate
                           chaining to this CA bundle (PEM), whose SPIFFE ID must be the identity
                           of the role its node.cluster claims
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
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'client-ca': { type: 'string' },
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

  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) return usageError('--tls-cert and --tls-key go together');
  if (values['client-ca'] !== undefined && values['tls-cert'] === undefined) return usageError('--client-ca needs --tls-cert and --tls-key (mutual TLS)');

  if (values.validate) return validate(registry);

  let tls: AdsServerTls | undefined;
  if (values['tls-cert'] !== undefined) {
    const loaded = loadServerTls(values['tls-cert'], values['tls-key']!, values['client-ca']);
    if (typeof loaded === 'string') {
      process.stderr.write(`meshlet control-plane: ${loaded}\n`);
      await registry.close();
      return 1;
    }
    tls = loaded;
  }

  let plane: ControlPlane;
  try {
    plane = await ControlPlane.start({ registry, address: values.address, port, adminPort, tls, log });
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

/** The ADS server's certificate, key and client CA, read and checked (they belong together, they parse), or what is wrong. */
function loadServerTls(certFile: string, keyFile: string, caFile: string | undefined): AdsServerTls | string {
  const read = (file: string): string => readFileSync(file, 'utf8');
  let certChainPem: string;
  let keyPem: string;
  let clientCaPem: string | undefined;
  try {
    certChainPem = read(certFile);
    keyPem = read(keyFile);
    clientCaPem = caFile === undefined ? undefined : read(caFile);
  } catch (err) {
    return `cannot read ${(err as NodeJS.ErrnoException).path ?? ''}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChainPem);
  } catch (err) {
    return `--tls-cert ${certFile}: not a PEM certificate (${(err as Error).message})`;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return `--tls-key ${keyFile}: not the key of the certificate in ${certFile}`;
  } catch (err) {
    return `--tls-key ${keyFile}: not a PEM private key (${(err as Error).message})`;
  }
  if (clientCaPem !== undefined) {
    try {
      new X509Certificate(clientCaPem);
    } catch (err) {
      return `--client-ca ${caFile}: not a PEM certificate (${(err as Error).message})`;
    }
  }
  return { certChainPem, keyPem, clientCaPem };
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
