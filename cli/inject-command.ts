import { readFileSync, writeFileSync } from 'node:fs';
import { commandLine } from './command-args';
import { injectManifests, ManifestError } from './kubernetes/inject-manifest';
import { DEFAULT_PREFIX } from '../xds/control-plane/registry/etcd-keys';
import { ANNOTATIONS, REDIRECT_ANNOTATIONS, VERSION_LABEL } from './kubernetes/injection-annotations';
import { DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS, INIT_CONTAINER, PROXY_CONTAINER } from './kubernetes/sidecar-containers';
import { SIDECAR_DEFAULTS } from './modes/sidecar-defaults';
import { parseHostPorts } from './modes/xds-address';
import { etcdLocation } from './registry-options';

const USAGE = `Usage: meshlet inject -f <file | -> [-o <file>] [--image <image>] [--xds-address <host:port>] [--register etcd://<host:port>[,...]]

Adds the meshlet sidecar to Kubernetes manifests, as 'istioctl kube-inject' does: every
Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod gets, in its pod template,
  - '${INIT_CONTAINER}', the last init container: 'meshlet iptables --apply' (root, NET_ADMIN and
    NET_RAW) redirects the pod's TCP through the sidecar;
  - '${PROXY_CONTAINER}', the first container: 'meshlet proxy --mode sidecar' as uid ${SIDECAR_DEFAULTS.uid}, its
    service the annotation ${ANNOTATIONS.service}, else the label "app", else the workload's
    name; the app starts once the proxy is ready (its postStart waits for /ready);
  - the annotation ${ANNOTATIONS.injected}: "true" (a second run leaves the workload as is).
Other documents are copied as they are, comments and all. A workload annotated
${ANNOTATIONS.inject}: "false" is skipped, and so is a hostNetwork pod.

The outbound listener routes mesh services only: list a pod's other TCP destinations (a
database, the Kubernetes API) in its annotations, passed to 'meshlet iptables' flags:
  ${Object.keys(REDIRECT_ANNOTATIONS).join(', ')}

A Job's app must stop the sidecar when it is done, or the pod never completes:
  curl -XPOST http://127.0.0.1:${SIDECAR_DEFAULTS.adminPort}/quitquitquit

With --register, each sidecar registers its pod in the mesh's etcd while it is ready (and leaves
it first when the pod stops): the pod's IP, and as the port the annotation ${ANNOTATIONS.registerPort}
(a number or a port name), else the app container's first TCP containerPort (no port: not
registered, with a note). A pod label "${VERSION_LABEL}" is registered as the endpoint's version.
${ANNOTATIONS.register}: "false" keeps a workload's pods out of the registry.

  -f, --filename <file>     the manifests (multi-document YAML); - reads stdin
  -o, --output <file>       where to write them (default: stdout)
      --image <image>       the meshlet image (default: ${DEFAULT_IMAGE})
      --xds-address <h:p>   the control plane, HOST:PORT[,HOST:PORT...] (default: ${DEFAULT_XDS_ADDRESS})
      --register <url>      etcd://HOST:PORT[,HOST:PORT...]: sidecars register their pods there, as
                            'proxy --mode sidecar --register' (default: no registration)
  -h, --help                show this help
`;

const { parse, usageError } = commandLine('inject', USAGE);

export async function injectCommand(args: string[]): Promise<number> {
  const values = parse(args, {
    filename: { type: 'string', short: 'f' },
    output: { type: 'string', short: 'o' },
    image: { type: 'string', default: DEFAULT_IMAGE },
    'xds-address': { type: 'string', default: DEFAULT_XDS_ADDRESS },
    register: { type: 'string' },
  });
  if (typeof values === 'number') return values;
  if (values.filename === undefined) return usageError('-f <file> is required (- for stdin)');
  if (values.image === '') return usageError('--image must name an image');
  const xds = parseHostPorts(values['xds-address']);
  if (typeof xds === 'string') return usageError(`--xds-address: ${xds}`);
  if (values.register !== undefined) {
    // As the sidecar will read it (no etcd access flags: none are injected).
    const registry = etcdLocation(values.register, DEFAULT_PREFIX, {}, {});
    if (typeof registry === 'string') return usageError(registry.replace(/^--registry:/, '--register:'));
  }

  const input = values.filename === '-' ? 'stdin' : values.filename;
  let text: string;
  try {
    text = readFileSync(values.filename === '-' ? 0 : values.filename, 'utf8');
  } catch (err) {
    process.stderr.write(`meshlet inject: cannot read ${input}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  let result;
  try {
    result = injectManifests(text, { image: values.image, xdsAddress: values['xds-address'], ...(values.register !== undefined && { register: values.register }) });
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    process.stderr.write(`meshlet inject: ${input}: ${err.message}\n`);
    return 1;
  }
  for (const note of result.notes) process.stderr.write(`meshlet inject: ${note}\n`);
  if (values.output === undefined) process.stdout.write(result.output);
  else writeFileSync(values.output, result.output);
  return 0;
}
