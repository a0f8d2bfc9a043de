/**
 * examples/kubernetes stays true: the injected samples are what `meshlet inject` makes of the
 * samples today, the mesh in the control plane's ConfigMap is valid, and the pieces name each
 * other consistently (addresses, ports, image). For etcd/ (the mesh in etcd, replicas,
 * registering sidecars) also: the etcd members' names, every meshlet container's arguments
 * through the real parsers, and the Job and control plane run against a real etcd. No
 * Kubernetes API server runs here: what the kubelet does (downward API, $(VAR)) is simulated.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { redirectOptionsFromFlags } from '../../cli/kubernetes/redirect-options';
import { DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS } from '../../cli/kubernetes/sidecar-containers';
import { modeBootstrap } from '../../cli/modes/mode-bootstrap';
import { resolveModeOptions } from '../../cli/modes/mode-options';
import { etcdLocation } from '../../cli/registry-options';
import { parseBootstrap } from '../../proxy/config/bootstrap';
import { loadMesh } from '../../xds/control-plane/control-plane';
import { parseMeshText } from '../../xds/control-plane/mesh-file';
import { ETCD_PARSE_OPTIONS } from '../../xds/control-plane/registry/etcd-registry';
import { startEtcd } from '../helpers/etcd';
import { MESHLET_BIN, writeTempFile } from '../helpers/proxy-process';
import { containerArgs, containerEnv } from './helpers/pod-env';

const DIR = join(__dirname, '..', '..', '..', 'examples', 'kubernetes');
const read = (name: string) => readFileSync(join(DIR, name), 'utf8');
const documents = (name: string): any[] => parseAllDocuments(read(name)).map((d) => d.toJS());
const byKind = (docs: any[], kind: string) => docs.find((d) => d.kind === kind);

t.test('sample-app.injected.yaml is exactly `meshlet inject -f sample-app.yaml`', async (t) => {
  const r = spawnSync(process.execPath, [MESHLET_BIN, 'inject', '-f', join(DIR, 'sample-app.yaml')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  // On a difference: meshlet inject -f examples/kubernetes/sample-app.yaml -o examples/kubernetes/sample-app.injected.yaml
  t.equal(r.stdout, read('sample-app.injected.yaml'));
});

t.test("the control plane's mesh file is valid and matches the sample app", async (t) => {
  const docs = documents('control-plane.yaml');
  const meshText: string = byKind(docs, 'ConfigMap').data['mesh.yaml'];
  const { mesh } = loadMesh(writeTempFile('mesh.yaml', meshText));
  const echo = mesh.services.find((s) => s.name === 'echo')!;
  const app = documents('sample-app.yaml');
  const service = byKind(app, 'Service');
  t.same(echo.endpoints.map((e) => [e.address, e.port]), [[service.spec.clusterIP, service.spec.ports[0].port]], "echo's endpoint is the Service's ClusterIP and port");
  t.equal(echo.sidecar.appPort, byKind(app, 'Deployment').spec.template.spec.containers[0].ports[0].containerPort, 'app_port is the container port');
  t.equal(echo.sidecar.address, '0.0.0.0', 'inbound redirection reaches the pod address, not loopback');
});

t.test('the control plane Deployment and Service are what sidecars and probes expect', async (t) => {
  const docs = documents('control-plane.yaml');
  const deployment = byKind(docs, 'Deployment');
  const [container] = deployment.spec.template.spec.containers;
  const args: string[] = container.args;
  const flag = (name: string) => args[args.indexOf(name) + 1];
  t.equal(args[0], 'control-plane');
  t.equal(flag('--config'), `${container.volumeMounts[0].mountPath}/mesh.yaml`);
  t.equal(flag('--address'), '0.0.0.0');
  t.equal(container.readinessProbe.httpGet.port, Number(flag('--admin-port')));
  t.equal(container.image, DEFAULT_IMAGE, 'the image of this version, as inject uses');

  const service = byKind(docs, 'Service');
  const namespace = byKind(docs, 'Namespace').metadata.name;
  t.equal(`${service.metadata.name}.${namespace}.svc:${service.spec.ports[0].port}`, DEFAULT_XDS_ADDRESS, "inject's default control plane address");
  t.equal(String(service.spec.ports[0].port), flag('--port'));
  t.same(service.spec.selector, deployment.spec.template.metadata.labels);
});

// examples/kubernetes/etcd: the mesh in etcd, two control plane replicas, sidecars that register.

const ETCD = (name: string) => `etcd/${name}`;

/** `--flag value` or `--flag=value` in `args`; undefined when absent. */
function flagOf(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

function meshlet(args: readonly string[]) {
  const r = spawnSync(process.execPath, [MESHLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The pieces of the etcd example, and what they should agree on. */
function etcdExample() {
  const etcdDocs = documents(ETCD('etcd.yaml'));
  const namespace: string = byKind(etcdDocs, 'Namespace').metadata.name;
  const headless = byKind(etcdDocs, 'Service');
  const statefulSet = byKind(etcdDocs, 'StatefulSet');
  const etcd = statefulSet.spec.template.spec.containers[0];
  const etcdPort = (name: string): number => etcd.ports.find((p: any) => p.name === name).containerPort;
  const members: string[] = Array.from({ length: statefulSet.spec.replicas }, (_, i) => `${statefulSet.metadata.name}-${i}`);
  const memberHost = (member: string) => `${member}.${headless.metadata.name}.${namespace}.svc`;
  const registry = `etcd://${members.map((m) => `${memberHost(m)}:${etcdPort('client')}`).join(',')}`;

  const controlPlaneDocs = documents(ETCD('control-plane.yaml'));
  const deployment = byKind(controlPlaneDocs, 'Deployment');
  const controlPlane = deployment.spec.template.spec.containers[0];

  const meshDocs = documents(ETCD('mesh.yaml'));
  const configMap = byKind(meshDocs, 'ConfigMap');
  const job = byKind(meshDocs, 'Job');
  const apply = job.spec.template.spec.containers[0];

  const app = documents(ETCD('sample-app.yaml'));
  const injected = documents(ETCD('sample-app.injected.yaml'));
  return {
    etcdDocs, namespace, headless, statefulSet, etcd, etcdPort, members, memberHost, registry,
    controlPlaneDocs, deployment, controlPlane, meshDocs, configMap, job, apply, app, injected,
  };
}

t.test('etcd/sample-app.injected.yaml is exactly `meshlet inject --register <the control plane\'s etcd>` of etcd/sample-app.yaml', async (t) => {
  const { controlPlane } = etcdExample();
  const registry = flagOf(controlPlane.args, '--registry')!;
  const r = meshlet(['inject', '-f', join(DIR, ETCD('sample-app.yaml')), '--register', registry]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'every echo pod registers: no note');
  // On a difference: the command in the header of etcd/sample-app.yaml, with -o etcd/sample-app.injected.yaml
  t.equal(r.stdout, read(ETCD('sample-app.injected.yaml')));
  t.ok(read(ETCD('sample-app.yaml')).includes(`meshlet inject -f sample-app.yaml --register ${registry} -o sample-app.injected.yaml`), 'the header names that command');
});

t.test('the etcd members: three, named by their stable DNS names in --initial-cluster, and by every registry URL', async (t) => {
  const x = etcdExample();
  t.equal(x.members.length, 3);
  t.equal(x.headless.spec.clusterIP, 'None', 'headless: one DNS name per member');
  t.equal(x.headless.spec.publishNotReadyAddresses, true, 'members resolve each other before the quorum forms');
  t.equal(x.statefulSet.spec.serviceName, x.headless.metadata.name);
  t.equal(x.statefulSet.spec.podManagementPolicy, 'Parallel', 'all members start together');
  t.same(x.headless.spec.selector, x.statefulSet.spec.template.metadata.labels);
  t.same(x.statefulSet.spec.selector.matchLabels, x.statefulSet.spec.template.metadata.labels);
  for (const name of ['client', 'peer']) t.equal(x.headless.spec.ports.find((p: any) => p.name === name).port, x.etcdPort(name), `${name} port`);

  const peerUrl = (member: string) => `http://${x.memberHost(member)}:${x.etcdPort('peer')}`;
  for (const member of x.members) {
    const args = containerArgs(x.etcd, containerEnv(x.etcd, { name: member, namespace: x.namespace, podIP: '10.244.0.9', labels: {} }));
    t.equal(flagOf(args, '--name'), member, `${member}: its name is its pod's`);
    t.equal(flagOf(args, '--initial-advertise-peer-urls'), peerUrl(member), `${member}: advertises its stable peer URL`);
    t.equal(flagOf(args, '--advertise-client-urls'), `http://${x.memberHost(member)}:${x.etcdPort('client')}`, `${member}: and client URL`);
    t.equal(flagOf(args, '--initial-cluster'), x.members.map((m) => `${m}=${peerUrl(m)}`).join(','), `${member}: --initial-cluster names the three`);
    t.notMatch(args.join(' '), /\$\(/, 'every $(VAR) is defined');
  }
  const metrics = Number(new URL(flagOf(x.etcd.args, '--listen-metrics-urls')!).port);
  t.equal(metrics, x.etcdPort('metrics'));
  t.equal(x.etcd.readinessProbe.httpGet.port, metrics);
  t.equal(x.etcd.livenessProbe.httpGet.port, metrics);
  t.equal(x.etcd.volumeMounts[0].name, x.statefulSet.spec.volumeClaimTemplates[0].metadata.name);
  t.ok(flagOf(x.etcd.args, '--data-dir')!.startsWith(`${x.etcd.volumeMounts[0].mountPath}/`), 'data on the claim');

  const budget = byKind(x.etcdDocs, 'PodDisruptionBudget');
  t.ok(x.members.length - budget.spec.maxUnavailable >= Math.floor(x.members.length / 2) + 1, 'a drain keeps the quorum');
  t.same(budget.spec.selector.matchLabels, x.statefulSet.spec.template.metadata.labels);

  // The same three members wherever meshlet reaches etcd.
  t.equal(flagOf(x.controlPlane.args, '--registry'), x.registry, 'the control plane');
  t.equal(flagOf(x.apply.args, '--registry'), x.registry, 'the mesh apply Job');
  for (const doc of x.injected.filter((d: any) => d.kind === 'Deployment')) {
    const sidecar = doc.spec.template.spec.containers[0];
    t.equal(sidecar.env.find((e: any) => e.name === 'MESHLET_REGISTER').value, x.registry, `${doc.metadata.name}'s sidecars`);
  }
  const location = etcdLocation(x.registry, '/meshlet', {}, {});
  t.notOk(typeof location === 'string', String(location));

  // The image's etcd is 3.5 and the one here Debian's 3.4, which has every flag used.
  const help = spawnSync('etcd', ['--help'], { encoding: 'utf8', timeout: 10_000 });
  if (help.error !== undefined) {
    t.comment('no etcd binary here: its flags are not checked');
  } else {
    const known = `${help.stdout}${help.stderr}`;
    for (const arg of x.etcd.args as string[]) {
      const flag = arg.split('=')[0]!;
      t.ok(known.includes(`  ${flag} `), `etcd knows ${flag}`);
    }
  }
});

t.test('the control plane: two replicas apart, a budget, ready on admin, the shared CA read-only; the Service sidecars dial', async (t) => {
  const x = etcdExample();
  const { deployment, controlPlane } = x;
  const args: string[] = controlPlane.args;
  const labels = deployment.spec.template.metadata.labels;
  t.equal(deployment.spec.replicas, 2);
  t.equal(args[0], 'control-plane');
  t.equal(flagOf(args, '--config'), undefined, 'the mesh comes from etcd');
  t.equal(flagOf(args, '--address'), '0.0.0.0');
  t.equal(controlPlane.readinessProbe.httpGet.path, '/ready');
  t.equal(controlPlane.readinessProbe.httpGet.port, Number(flagOf(args, '--admin-port')));
  t.same(deployment.spec.selector.matchLabels, labels);
  const [apart] = deployment.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  t.same(apart.podAffinityTerm.labelSelector.matchLabels, labels, 'anti-affinity among the replicas');
  t.equal(apart.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');

  const budget = byKind(x.controlPlaneDocs, 'PodDisruptionBudget');
  t.same(budget.spec.selector.matchLabels, labels);
  t.ok(budget.spec.minAvailable >= 1 && budget.spec.minAvailable < deployment.spec.replicas, 'one replica may go, one stays');

  const service = byKind(x.controlPlaneDocs, 'Service');
  t.same(service.spec.selector, labels);
  t.equal(String(service.spec.ports[0].port), flagOf(args, '--port'));
  t.equal(`${service.metadata.name}.${service.metadata.namespace}.svc:${service.spec.ports[0].port}`, DEFAULT_XDS_ADDRESS, "inject's default control plane address");
  for (const doc of x.injected.filter((d: any) => d.kind === 'Deployment')) {
    t.equal(doc.spec.template.spec.containers[0].env.find((e: any) => e.name === 'MESHLET_XDS_ADDRESS').value, DEFAULT_XDS_ADDRESS, `${doc.metadata.name}'s sidecars dial the Service`);
  }

  // The CA: a Secret made as the README says, mounted read-only where the document's ca_dir points.
  const mount = controlPlane.volumeMounts.find((m: any) => m.name === 'ca');
  const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'ca');
  t.equal(mount.readOnly, true);
  const secretCommand = /kubectl -n (\S+) create secret generic (\S+)/.exec(read(ETCD('README.md')));
  t.same(secretCommand?.slice(1), [x.namespace, volume.secret.secretName], 'the README creates that Secret, in the namespace');
  t.equal(volume.secret.defaultMode, 0o440, 'not world-readable');
  t.equal(deployment.spec.template.spec.securityContext.fsGroup, controlPlane.securityContext.runAsGroup, "the files' group is the control plane's");
  const mesh = parseMeshText(x.configMap.data['mesh.yaml'], ETCD_PARSE_OPTIONS);
  t.equal(mesh.mtls.caDir, mount.mountPath, 'mtls.ca_dir is the mount, an absolute path');

  for (const doc of [...x.etcdDocs, ...x.controlPlaneDocs, ...x.meshDocs].filter((d) => d.kind !== 'Namespace')) {
    t.equal(doc.metadata.namespace, x.namespace, `${doc.kind}/${doc.metadata.name} is in ${x.namespace}`);
  }
  for (const container of [controlPlane, x.apply]) t.equal(container.image, DEFAULT_IMAGE, `${container.name}: the image of this version, as inject uses`);
});

t.test("the mesh document: valid as the control planes read it, applied by the Job from its ConfigMap, and the sample app's match", async (t) => {
  const x = etcdExample();
  const text: string = x.configMap.data['mesh.yaml'];
  const mesh = parseMeshText(text, ETCD_PARSE_OPTIONS);
  t.same(mesh.services.map((s) => s.name).sort(), ['client', 'echo']);
  const echo = mesh.services.find((s) => s.name === 'echo')!;
  t.same(echo.endpoints, [], 'no endpoint listed: they register');
  t.same(mesh.services.map((s) => s.mtls), ['PERMISSIVE', 'PERMISSIVE'], "mTLS, and the kubelet's plaintext probes still reach the apps");
  t.equal(echo.sidecar.address, '0.0.0.0', 'inbound redirection reaches the pod address, not loopback');

  const volume = x.job.spec.template.spec.volumes.find((v: any) => v.configMap !== undefined);
  const mount = x.apply.volumeMounts.find((m: any) => m.name === volume.name);
  t.equal(volume.configMap.name, x.configMap.metadata.name);
  t.same(x.apply.args.slice(0, 2), ['mesh', 'apply']);
  t.equal(flagOf(x.apply.args, '-f'), `${mount.mountPath}/mesh.yaml`, 'the Job applies the ConfigMap');

  const service = byKind(x.app, 'Service');
  t.equal(echo.port, service.spec.ports[0].port, 'the port clients call, as the Service (which gives the name) has it');
  const deployments = x.app.filter((d: any) => d.kind === 'Deployment');
  const routedVersions = new Set(echo.routes.flatMap((r) => r.to.map((to) => to.version)));
  t.same([...routedVersions].sort(), deployments.map((d: any) => d.spec.template.metadata.labels.version).sort(), 'the routes split between the versions the pods are labelled with');
  for (const d of deployments) {
    t.equal(d.spec.template.metadata.labels.app, 'echo', `${d.metadata.name} serves echo`);
    t.equal(d.spec.template.spec.containers[0].ports[0].containerPort, echo.sidecar.appPort, `${d.metadata.name}: app_port is the container port`);
  }
});

t.test('every meshlet container in the etcd example parses with the command-line parser it runs', async (t) => {
  const x = etcdExample();
  // Strict parsing comes first: an unknown flag or a flag without its value exits 2 before --help is honoured.
  for (const [container, usage] of [[x.controlPlane, 'Usage: meshlet control-plane'], [x.apply, 'Usage: meshlet mesh']] as const) {
    const r = meshlet([...container.args, '--help']);
    t.equal(r.code, 0, `${container.name}: ${r.stderr.split('\n')[0]}`);
    t.ok(r.stdout.startsWith(usage), container.name);
  }
  t.equal(meshlet([...x.controlPlane.args, '--no-such-flag', '--help']).code, 2, 'the check can fail');

  // The sidecars: `proxy --mode sidecar` from their environment, as the kubelet fills it in.
  for (const doc of x.injected.filter((d: any) => d.kind === 'Deployment')) {
    const pod = doc.spec.template;
    const [sidecar, app] = pod.spec.containers;
    const podIP = '10.244.2.31';
    const env = containerEnv(sidecar, { name: `${doc.metadata.name}-7c9d8-abcde`, namespace: 'default', podIP, labels: pod.metadata.labels });
    const options = resolveModeOptions(flagOf(sidecar.args, '--mode')!, {}, env, 'unused');
    if ('error' in options) throw new Error(`${doc.metadata.name}: ${options.error}`);
    t.same(options.registration, {
      hosts: x.members.map((m) => `http://${x.memberHost(m)}:${x.etcdPort('client')}`),
      access: {},
      prefix: '/meshlet',
      service: 'echo',
      endpoint: { address: podIP, port: app.ports[0].containerPort, version: pod.metadata.labels.version },
      ttlSeconds: 10,
    }, `${doc.metadata.name}: registers its pod IP, the app's port and its version`);
    parseBootstrap(modeBootstrap(options));

    const init = pod.spec.initContainers.find((c: any) => c.name === 'meshlet-init');
    const flags: Record<string, string> = {};
    for (let i = 2; i < init.args.length; i += 2) flags[init.args[i].replace(/^--/, '')] = init.args[i + 1];
    t.notOk('error' in redirectOptionsFromFlags(flags), `${doc.metadata.name}: meshlet iptables flags`);
  }
});

t.test('on a real etcd: the Job applies the document, and the control plane with its arguments finds it valid, with the CA Secret the README makes', async (t) => {
  const x = etcdExample();
  const cluster = await startEtcd(1);
  t.teardown(() => cluster.stop());
  // Only the etcd address (and below, the CA's path) differ from the manifests: no Kubernetes DNS here.
  const local = `etcd://${cluster.members[0]!.clientAddress}`;
  const withValue = (args: readonly string[], flag: string, value: string) => args.map((a, i) => (args[i - 1] === flag ? value : a));
  const text: string = x.configMap.data['mesh.yaml'];

  const applied = meshlet(withValue(withValue(x.apply.args, '--registry', local), '-f', writeTempFile('mesh.yaml', text)));
  t.equal(applied.code, 0, applied.stderr.split('\n')[0]);
  t.match(applied.stdout, 'applied to /meshlet/mesh');
  t.equal(meshlet(['mesh', 'get', '--registry', local]).stdout, text, 'stored as written');

  // The Secret: the files the README's `kubectl create secret` takes from `meshlet certs init-ca`.
  const full = mkdtempSync(join(tmpdir(), 'meshlet-ca-'));
  t.equal(meshlet(['certs', 'init-ca', '--out', full, '--trust-domain', parseMeshText(text, ETCD_PARSE_OPTIONS).mtls.trustDomain]).code, 0);
  const secret = mkdtempSync(join(tmpdir(), 'meshlet-secret-'));
  const files = [...read(ETCD('README.md')).matchAll(/--from-file=ca\/(\S+)/g)].map((m) => m[1]!);
  t.notOk(files.includes('root-key.pem'), 'the root key stays offline');
  for (const file of files) copyFileSync(join(full, file), join(secret, file));
  const caDir = x.controlPlane.volumeMounts.find((m: any) => m.name === 'ca').mountPath;
  t.ok(text.includes(`ca_dir: ${caDir}\n`));
  await cluster.client.put('/meshlet/mesh').value(text.replace(`ca_dir: ${caDir}\n`, `ca_dir: ${secret}\n`));

  const validated = meshlet([...withValue(x.controlPlane.args, '--registry', local), '--validate']);
  t.equal(validated.code, 0, validated.stderr);
  t.match(validated.stdout, /: valid \(2 services, 0 gateways, \d+ node roles\)/);
});
