/**
 * `meshlet inject --register etcd://...`: the injected sidecar's environment makes
 * `proxy --mode sidecar` register its pod (checked through the real resolveModeOptions() and
 * resolveRegistration(), with the downward API's values filled in as the kubelet would), the
 * port and version come from the pod, annotations opt out or override, and without --register
 * nothing changes.
 */
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { injectManifests, ManifestError } from '../../cli/kubernetes/inject-manifest';
import { resolveModeOptions } from '../../cli/modes/mode-options';
import { resolveRegistration } from '../../cli/modes/registration-options';
import { containerEnv, type PodFacts } from './helpers/pod-env';

const REGISTRY = 'etcd://etcd-0.etcd.mesh.svc:2379,etcd-1.etcd.mesh.svc:2379';
const PLAIN = { image: 'registry.example/meshlet:test', xdsAddress: 'cp.meshlet-system.svc:18000' };
const SETTINGS = { ...PLAIN, register: REGISTRY };

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-v2
spec:
  template:
    metadata:
      labels:
        app: web
        version: v2
    spec:
      containers:
      - name: web
        image: web:2
        ports:
        - name: metrics
          containerPort: 9090
          protocol: UDP
        - name: http
          containerPort: 8080
      - name: cache
        image: cache:1
        ports:
        - containerPort: 6379
`;

/** The injected documents, as plain data. */
function injected(text: string, settings: typeof PLAIN = SETTINGS): any[] {
  return parseAllDocuments(injectManifests(text, settings).output).map((d) => d.toJS());
}

function sidecarOf(doc: any): any {
  const pod = doc.kind === 'Pod' ? doc : doc.spec.template;
  return pod.spec.containers.find((c: any) => c.name === 'meshlet-proxy');
}

function registrationEnv(doc: any): any[] {
  return sidecarOf(doc).env.filter((e: any) => /^MESHLET_(REGISTER|POD_IP)/.test(e.name));
}

const POD: PodFacts = { name: 'web-v2-5d8c7-x2x9z', namespace: 'shop', podIP: '10.244.1.17', labels: { app: 'web', version: 'v2' } };

t.test('--register: the sidecar gets the registry, the pod IP, the app port and the version label', async (t) => {
  const [doc] = injected(DEPLOYMENT);
  t.same(registrationEnv(doc), [
    { name: 'MESHLET_REGISTER', value: REGISTRY },
    { name: 'MESHLET_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'MESHLET_REGISTER_PORT', value: '8080' },
    { name: 'MESHLET_REGISTER_VERSION', valueFrom: { fieldRef: { fieldPath: "metadata.labels['version']" } } },
  ]);
  t.same(doc.spec.template.spec.containers.map((c: any) => c.name), ['meshlet-proxy', 'web', 'cache'], 'otherwise injected as ever');
  t.match(injectManifests(DEPLOYMENT, SETTINGS).output, '          value: "8080"\n', 'the port is a string, as env values must be');
});

t.test('the environment resolves, through proxy --mode sidecar, into the registration of this pod', async (t) => {
  const sidecar = sidecarOf(injected(DEPLOYMENT)[0]);
  const env = containerEnv(sidecar, POD);
  const options = resolveModeOptions(sidecar.args[2], {}, env, POD.name);
  if ('error' in options) throw new Error(options.error);
  t.equal(options.nodeId, `${POD.name}.${POD.namespace}`);
  t.same(options.registration, {
    hosts: ['http://etcd-0.etcd.mesh.svc:2379', 'http://etcd-1.etcd.mesh.svc:2379'],
    access: {},
    prefix: '/meshlet',
    service: 'web',
    endpoint: { address: POD.podIP, port: 8080, version: 'v2' },
    ttlSeconds: 10,
  });
  t.same(resolveRegistration({}, env, { mode: 'sidecar', service: options.service, zone: undefined, region: undefined }), options.registration);
});

t.test('without the version label: no version variable, an endpoint without a version', async (t) => {
  const [doc] = injected(DEPLOYMENT.replace('        version: v2\n', ''));
  t.same(registrationEnv(doc).map((e: any) => e.name), ['MESHLET_REGISTER', 'MESHLET_POD_IP', 'MESHLET_REGISTER_PORT']);
  const options = resolveModeOptions('sidecar', {}, containerEnv(sidecarOf(doc), { ...POD, labels: { app: 'web' } }), 'h');
  if ('error' in options) throw new Error(options.error);
  t.same(options.registration?.endpoint, { address: POD.podIP, port: 8080 });
});

t.test('without --register nothing changes: no variable, the same bytes', async (t) => {
  const text = `${DEPLOYMENT}---\nkind: Pod\nmetadata: {name: p, annotations: {meshlet.io/register: "false", meshlet.io/register-port: "x"}}\nspec: {containers: [{name: c}]}\n`;
  const plain = injectManifests(text, PLAIN);
  t.same(plain, injectManifests(text, { ...PLAIN, register: undefined }));
  t.notMatch(plain.output, /MESHLET_REGISTER|MESHLET_POD_IP/);
  t.same(plain.notes, [], 'the registration annotations are not even read');
});

t.test('the app container: the one kubectl.kubernetes.io/default-container names, else the first', async (t) => {
  const named = DEPLOYMENT.replace('      labels:\n        app: web\n', '      annotations:\n        kubectl.kubernetes.io/default-container: cache\n      labels:\n        app: web\n');
  t.equal(registrationEnv(injected(named)[0])[2].value, '6379');
  t.equal(registrationEnv(injected(DEPLOYMENT)[0])[2].value, '8080', 'its first TCP port (the UDP one skipped)');
});

t.test('meshlet.io/register-port overrides the port: a number, or the name of an app port', async (t) => {
  const annotated = (value: string) => DEPLOYMENT.replace('      labels:\n        app: web\n', `      annotations:\n        meshlet.io/register-port: ${value}\n      labels:\n        app: web\n`);
  t.equal(registrationEnv(injected(annotated('"8443"'))[0])[2].value, '8443');
  t.equal(registrationEnv(injected(annotated('8443'))[0])[2].value, '8443', 'unquoted: a YAML number');
  t.equal(registrationEnv(injected(annotated('metrics'))[0])[2].value, '9090', 'by name');
  for (const bad of ['"0"', '"65536"', 'grpc', '"80,81"']) {
    t.throws(
      () => injectManifests(annotated(bad), SETTINGS),
      new ManifestError(`Deployment/web-v2: annotation meshlet.io/register-port: "${bad.replace(/"/g, '')}" is neither a port number (1-65535) nor the name of a port of the app container "web"`),
      bad,
    );
  }
  // On the workload, like the other annotations (the pod template's win).
  const onWorkload = DEPLOYMENT.replace('  name: web-v2\n', '  name: web-v2\n  annotations: {meshlet.io/register-port: "7000"}\n');
  t.equal(registrationEnv(injected(onWorkload)[0])[2].value, '7000');
});

t.test('a pod with no port to register is injected without registration, with a note', async (t) => {
  const text = 'kind: Pod\nmetadata: {name: client, labels: {app: client}}\nspec: {containers: [{name: curl, image: curl}]}\n';
  const { output, notes } = injectManifests(text, SETTINGS);
  const [doc] = parseAllDocuments(output).map((d) => d.toJS());
  t.same(registrationEnv(doc), []);
  t.equal(sidecarOf(doc).env.length, 5, 'the sidecar is there, configured as without --register');
  t.same(notes, [
    'Pod/client: not registered: the app container "curl" lists no TCP containerPort; name the port peers connect to with the annotation meshlet.io/register-port (or opt out with meshlet.io/register: "false")',
  ]);
});

t.test('meshlet.io/register: "false" opts a workload out; other values are refused', async (t) => {
  for (const value of ['"false"', 'false']) {
    const text = DEPLOYMENT.replace('  name: web-v2\n', `  name: web-v2\n  annotations: {meshlet.io/register: ${value}}\n`);
    const { output, notes } = injectManifests(text, SETTINGS);
    const [doc] = parseAllDocuments(output).map((d) => d.toJS());
    t.same(registrationEnv(doc), [], value);
    t.equal(sidecarOf(doc).env.length, 5);
    t.same(notes, ['Deployment/web-v2: not registered: meshlet.io/register is "false"']);
  }
  const yes = DEPLOYMENT.replace('  name: web-v2\n', '  name: web-v2\n  annotations: {meshlet.io/register: "true"}\n');
  t.equal(registrationEnv(injected(yes)[0]).length, 4, '"true" is the default');
  t.throws(
    () => injectManifests(DEPLOYMENT.replace('  name: web-v2\n', '  name: web-v2\n  annotations: {meshlet.io/register: "no"}\n'), SETTINGS),
    new ManifestError('Deployment/web-v2: annotation meshlet.io/register must be "true" or "false", got "no"'),
  );
});

t.test('a version label or service name the registry would not take stops the injection', async (t) => {
  t.throws(
    () => injectManifests(DEPLOYMENT.replace('version: v2', 'version: "v2 beta"'), SETTINGS),
    new ManifestError('Deployment/web-v2: label version (the registered version): expected a version label (letters, digits, ".", "_", "-"), got "v2 beta"'),
  );
  t.throws(
    () => injectManifests(DEPLOYMENT.replace('app: web\n', 'app: Web_App\n'), SETTINGS),
    new ManifestError('Deployment/web-v2: service "Web_App" cannot be registered (it names the registered etcd key): expected a lowercase DNS-style name (a-z, 0-9, "-", "."), got "Web_App"'),
  );
  t.doesNotThrow(() => injectManifests(DEPLOYMENT.replace('app: web\n', 'app: Web_App\n'), PLAIN), 'without --register the name is not registered');
});

t.test('a registered port left out of the inbound redirection gets a note', async (t) => {
  const text = DEPLOYMENT.replace('  name: web-v2\n', '  name: web-v2\n  annotations: {meshlet.io/exclude-inbound-ports: "9000,8080"}\n');
  t.same(injectManifests(text, SETTINGS).notes, [
    "Deployment/web-v2: registers port 8080, which is not redirected to the sidecar (meshlet.io/exclude-inbound-ports or the sidecar's own ports): peers will reach the app directly, and their mTLS, if on, fails",
  ]);
  t.same(injectManifests(DEPLOYMENT, SETTINGS).notes, []);
});

t.test('every kind registers its pod; injecting twice is injecting once', async (t) => {
  const podSpec = 'spec: {containers: [{name: app, image: app:1, ports: [{containerPort: 8080}]}]}';
  const text = [
    `kind: StatefulSet\nmetadata: {name: db}\nspec:\n  template:\n    metadata: {labels: {app: db, version: "3"}}\n    ${podSpec}`,
    `kind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        ${podSpec}`,
    `kind: Pod\nmetadata: {name: lonely}\n${podSpec}`,
  ].join('\n---\n');
  const once = injectManifests(text, SETTINGS);
  const docs = parseAllDocuments(once.output).map((d) => d.toJS());
  const sidecars = [docs[0].spec.template, docs[1].spec.jobTemplate.spec.template, docs[2]].map((pod: any) => pod.spec.containers[0]);
  t.same(sidecars.map((s) => s.env.filter((e: any) => e.name.startsWith('MESHLET_REGISTER')).map((e: any) => e.value ?? e.valueFrom.fieldRef.fieldPath)), [
    [REGISTRY, '8080', "metadata.labels['version']"],
    [REGISTRY, '8080'],
    [REGISTRY, '8080'],
  ]);
  const twice = injectManifests(once.output, SETTINGS);
  t.equal(twice.output, once.output);
  t.same(twice.notes, ['StatefulSet/db: skipped: injected already', 'CronJob/nightly: skipped: injected already', 'Pod/lonely: skipped: injected already']);
});
