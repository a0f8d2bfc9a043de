import { readFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { ConfigError } from '../xds/config-error';
import { parseMeshText } from '../xds/control-plane/mesh-file';
import { etcdClient } from '../xds/control-plane/registry/etcd-client';
import { classifyKey, endpointsPrefix, meshKey } from '../xds/control-plane/registry/etcd-keys';
import { ETCD_PARSE_OPTIONS } from '../xds/control-plane/registry/etcd-registry';
import { commandLine } from './command-args';
import { formatConfigError } from './format-config-error';
import { etcdLocation, REGISTRY_FLAGS, REGISTRY_USAGE, type EtcdLocation, type RegistryFlagValues } from './registry-options';

const USAGE = `Usage: meshlet mesh <apply | get> --registry etcd://HOST:PORT[,...] [options]

The mesh document in etcd, which \`meshlet control-plane --registry\` serves: the mesh file's
format (examples/mesh.yaml), at <prefix>/mesh. Endpoints may be listed in it, and instances
also register their own (\`meshlet register\`).

meshlet mesh apply -f <mesh.yaml> --registry <url> [--prefix <key>]
  Validates the document (every problem with its path; then exit 1 and nothing is written) and
  stores it as it is, comments included. Every control plane watching the prefix serves it
  within a moment. A route may name a version that no endpoint has yet: instances of it may
  register later. (Files it names, mtls.ca_dir and gateway certificates, are read by each
  control plane, from its working directory.)
      -f, --file <file>    the document, YAML or JSON; - reads standard input

meshlet mesh get --registry <url> [--prefix <key>] [--endpoints]
  Prints the stored document, as it was applied.
      --endpoints          then the registered endpoints, as comments: service, address:port,
                           the registered value and its lease

${REGISTRY_USAGE}
  -h, --help               show this help
`;

const { parse, usageError, dispatch } = commandLine('mesh', USAGE);

export async function meshCommand(args: string[]): Promise<number> {
  return dispatch(args, { apply, get });
}

async function apply(args: string[]): Promise<number> {
  const values = parse(args, { ...REGISTRY_FLAGS, file: { type: 'string', short: 'f' } }, 'apply');
  if (typeof values === 'number') return values;
  if (values.file === undefined) return usageError('apply: -f <file> is required');
  const location = registryLocation(values);
  if (typeof location === 'string') return usageError(`apply: ${location}`);
  const text = readFileSync(values.file === '-' ? 0 : values.file, 'utf8');
  try {
    parseMeshText(text, ETCD_PARSE_OPTIONS);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(formatConfigError(values.file, err));
    return 1;
  }
  const key = meshKey(location.prefix);
  const { header } = await withClient(location, (client) => client.put(key).value(text).exec());
  process.stdout.write(`${values.file}: applied to ${key} (revision ${header.revision})\n`);
  return 0;
}

async function get(args: string[]): Promise<number> {
  const values = parse(args, { ...REGISTRY_FLAGS, endpoints: { type: 'boolean', default: false } }, 'get');
  if (typeof values === 'number') return values;
  const location = registryLocation(values);
  if (typeof location === 'string') return usageError(`get: ${location}`);
  const key = meshKey(location.prefix);
  const [text, registered] = await withClient(location, (client) =>
    Promise.all([client.get(key).string(), values.endpoints ? client.getAll().prefix(endpointsPrefix(location.prefix)).exec() : undefined]),
  );
  if (text === null) process.stderr.write(`meshlet mesh get: no mesh document at ${key} (\`meshlet mesh apply\` writes one)\n`);
  else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  if (registered !== undefined) {
    // As comments, so that the output is still the document.
    const lines = registered.kvs.map((kv) => {
      const registry = classifyKey(location.prefix, kv.key.toString());
      const where = registry.kind === 'endpoint' ? `${registry.service} ${registry.id}` : kv.key.toString();
      return `#   ${where} ${kv.value.toString()} lease ${BigInt(kv.lease).toString(16)}\n`;
    });
    process.stdout.write(`# registered endpoints (${endpointsPrefix(location.prefix)}):${lines.length === 0 ? ' none' : ''}\n${lines.join('')}`);
  }
  return text === null ? 1 : 0;
}

function registryLocation(flags: RegistryFlagValues): EtcdLocation | string {
  return flags.registry === undefined ? '--registry is required' : etcdLocation(flags.registry, flags.prefix, flags);
}

async function withClient<T>(location: EtcdLocation, use: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = etcdClient(location.hosts, location.access);
  try {
    return await use(client);
  } catch (err) {
    throw new Error(`etcd ${location.hosts.join(',')}: ${(err as Error).message}`);
  } finally {
    client.close();
  }
}
