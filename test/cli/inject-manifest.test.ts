/**
 * `meshlet inject`'s transformation: what an injected pod looks like for each workload kind, what
 * is left alone (other documents byte for byte, opted-out and injected workloads), and that the
 * injected containers' settings are the ones `proxy --mode` and `iptables` read.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { indentsSequences, injectManifests, ManifestError } from '../../cli/kubernetes/inject-manifest';
import { redirectOptionsFromFlags } from '../../cli/kubernetes/redirect-options';
import { DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS } from '../../cli/kubernetes/sidecar-containers';
import { preStopScript, waitReadyScript } from '../../cli/kubernetes/lifecycle-scripts';
import { modeBootstrap } from '../../cli/modes/mode-bootstrap';
import { resolveModeOptions } from '../../cli/modes/mode-options';
import { parseBootstrap } from '../../proxy/config/bootstrap';
import { freePort } from '../helpers/proxy-process';

const SETTINGS = { image: 'registry.example/meshlet:test', xdsAddress: 'cp.meshlet-system.svc:18000' };

const DEPLOYMENT = `# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels:
        app: web-app # the service name comes from here
    spec:
      initContainers:
      - name: migrate
        image: web:1
      containers:
      - name: web
        image: web:1
        ports:
        - containerPort: 8080
`;

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web   # trailing comment, odd spacing kept
spec:
  ports: [ {port: 80,   targetPort: 8080} ]
  selector: {app: web}
`;

const CONFIG_MAP = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  key: |
    a literal block
      with indentation
`;

/** The injected output's documents, as plain data. */
function injected(text: string): any[] {
  return parseAllDocuments(injectManifests(text, SETTINGS).output).map((d) => d.toJS());
}

/** The pod spec and metadata of a document at `path`. */
function podOf(doc: any, path: string[]): { metadata: any; spec: any } {
  return path.reduce((node, key) => node[key], doc);
}

t.test('a Deployment: sidecar first, init container last, annotations; nothing else changes', async (t) => {
  const [doc] = injected(DEPLOYMENT);
  const pod = doc.spec.template;
  t.same(pod.spec.containers.map((c: any) => c.name), ['meshlet-proxy', 'web'], 'sidecar first: the kubelet starts containers in order');
  t.same(pod.spec.initContainers.map((c: any) => c.name), ['migrate', 'meshlet-init'], "init last: the app's init containers run before the redirection");
  t.same(pod.metadata.annotations, { 'meshlet.io/injected': 'true', 'kubectl.kubernetes.io/default-container': 'web' });
  t.same(pod.spec.containers[1], { name: 'web', image: 'web:1', ports: [{ containerPort: 8080 }] }, 'the app container is untouched');
  t.same(doc.spec.replicas, 2);

  const proxy = pod.spec.containers[0];
  t.equal(proxy.image, SETTINGS.image);
  t.same(proxy.args, ['proxy', '--mode', 'sidecar']);
  t.same(proxy.env, [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'MESHLET_XDS_ADDRESS', value: SETTINGS.xdsAddress },
    { name: 'MESHLET_SERVICE', value: 'web-app' },
    { name: 'MESHLET_NODE_ID', value: '$(POD_NAME).$(POD_NAMESPACE)' },
  ]);
  t.same(proxy.ports.map((p: any) => p.containerPort), [15001, 15006, 15000, 15021]);
  t.same(proxy.readinessProbe.httpGet, { path: '/ready', port: 15021 });
  t.same(proxy.lifecycle.postStart.exec.command.slice(0, 2), ['node', '-e']);
  t.match(proxy.lifecycle.postStart.exec.command[2], 'http://127.0.0.1:15000/ready');
  t.same(proxy.lifecycle.preStop.exec.command.slice(0, 2), ['node', '-e']);
  t.match(proxy.lifecycle.preStop.exec.command[2], 'http://127.0.0.1:15000/healthcheck/fail');
  t.same(proxy.resources.requests, { cpu: '100m', memory: '128Mi' });
  t.match(proxy.securityContext, { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });

  const init = pod.spec.initContainers[1];
  t.equal(init.image, SETTINGS.image);
  t.same(init.args, ['iptables', '--apply', '--proxy-uid', '1337', '--inbound-port', '15006', '--outbound-port', '15001']);
  t.same(init.securityContext, {
    runAsUser: 0,
    runAsNonRoot: false,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
  });
});

t.test("the injected sidecar's environment is a bootstrap `proxy --mode sidecar` accepts, and the init step's flags are valid", async (t) => {
  const proxy = injected(DEPLOYMENT)[0].spec.template.spec.containers[0];
  const env = Object.fromEntries(proxy.env.map((e: any) => [e.name, e.value ?? 'from-downward-api']));
  const options = resolveModeOptions(proxy.args[2], {}, env, 'web-7d9f');
  if ('error' in options) throw new Error(options.error);
  const bootstrap = parseBootstrap(modeBootstrap(options));
  t.equal(bootstrap.node.cluster, 'web-app');
  t.same(bootstrap.ads?.endpoints, [{ address: 'cp.meshlet-system.svc', port: 18000 }]);
  t.equal(options.admin.port, proxy.lifecycle.postStart.exec.command[2].match(/127\.0\.0\.1:(\d+)/)[1] * 1, 'postStart polls the admin port');
  t.equal(options.healthPort, proxy.readinessProbe.httpGet.port, 'the probe hits the health listener');

  const init = injected(DEPLOYMENT)[0].spec.template.spec.initContainers[1];
  // `iptables --apply`, then flag/value pairs.
  const flags: Record<string, string> = {};
  for (let i = 2; i < init.args.length; i += 2) flags[init.args[i].replace(/^--/, '')] = init.args[i + 1];
  const redirect = redirectOptionsFromFlags(flags);
  t.notOk('error' in redirect, JSON.stringify(redirect));
  t.match(redirect, { proxyUid: proxy.securityContext.runAsUser, proxyGid: proxy.securityContext.runAsGroup });
});

t.test('other kinds carry their pod elsewhere: StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod', async (t) => {
  const podSpec = 'spec: {containers: [{name: app, image: app:1}]}';
  const template = `template:\n      metadata: {labels: {app: svc}}\n      ${podSpec}`;
  const text = [
    `kind: StatefulSet\nmetadata: {name: db}\nspec:\n    ${template}`,
    `kind: DaemonSet\nmetadata: {name: agent}\nspec:\n    ${template}`,
    `kind: ReplicaSet\nmetadata: {name: rs}\nspec:\n    ${template}`,
    `kind: Job\nmetadata: {name: once}\nspec:\n    ${template}`,
    `kind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: "0 3 * * *"\n  jobTemplate:\n    spec:\n      template:\n        ${podSpec}`,
    `kind: Pod\nmetadata: {name: lonely}\n${podSpec}`,
  ].join('\n---\n');
  const docs = injected(text);
  const paths = [['spec', 'template'], ['spec', 'template'], ['spec', 'template'], ['spec', 'template'], ['spec', 'jobTemplate', 'spec', 'template'], []];
  const services = ['svc', 'svc', 'svc', 'svc', 'nightly', 'lonely'];
  docs.forEach((doc, i) => {
    const pod = podOf(doc, paths[i]!);
    t.same(pod.spec.containers.map((c: any) => c.name), ['meshlet-proxy', 'app'], doc.kind);
    t.same(pod.spec.initContainers.map((c: any) => c.name), ['meshlet-init'], doc.kind);
    t.equal(pod.metadata.annotations['meshlet.io/injected'], 'true', doc.kind);
    t.equal(pod.spec.containers[0].env.find((e: any) => e.name === 'MESHLET_SERVICE').value, services[i], `${doc.kind}: service from the app label, else the name`);
  });
});

t.test('pods that run to completion get a note on how the app stops the sidecar, and nothing that would keep them running', async (t) => {
  const text = [
    'kind: Job\nmetadata: {name: once}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: a}]}}}',
    'kind: Pod\nmetadata: {name: task}\nspec: {restartPolicy: OnFailure, containers: [{name: a, image: a}]}',
    'kind: Pod\nmetadata: {name: server}\nspec: {containers: [{name: a, image: a}]}',
  ].join('\n---\n');
  const { notes, output } = injectManifests(text, SETTINGS);
  t.same(notes, [
    "Job/once: its pod runs to completion: when done, the app must stop the sidecar with 'curl -XPOST http://127.0.0.1:15000/quitquitquit' (or the pod never completes)",
    "Pod/task: its pod runs to completion: when done, the app must stop the sidecar with 'curl -XPOST http://127.0.0.1:15000/quitquitquit' (or the pod never completes)",
  ]);
  const job = parseAllDocuments(output)[0]!.toJS();
  t.equal(job.spec.template.spec.restartPolicy, 'Never', "the pod's restart policy is kept: the sidecar, once quit, is not restarted");
  t.match(job.spec.template.spec.containers[0].lifecycle.postStart.exec.command[2], /process\.exit\(1\)/, 'postStart gives up (bounded), it does not wait forever');
});

t.test('documents other than workloads are copied byte for byte, comments and all', async (t) => {
  const text = `${SERVICE}---\n${DEPLOYMENT}---\n${CONFIG_MAP}...\n---\n# a trailing comment-only document\n`;
  const { output } = injectManifests(text, SETTINGS);
  t.ok(output.startsWith(`${SERVICE}---\n# the web tier\n`), 'the Service, then the Deployment with its leading comment');
  t.ok(output.endsWith(`---\n${CONFIG_MAP}...\n---\n# a trailing comment-only document\n`), 'the ConfigMap and what follows');
  t.match(output, 'app: web-app # the service name comes from here', 'comments inside an injected document stay');
  t.equal(parseAllDocuments(output).length, 4);
});

t.test('a manifest without workloads comes out exactly as it went in', async (t) => {
  for (const text of [SERVICE, `${SERVICE}---\n${CONFIG_MAP}`, '', '# only a comment\n', '---\n---\n', 'a: 1\r\nb: [2]\r\n', 'just a string\n']) {
    t.equal(injectManifests(text, SETTINGS).output, text, JSON.stringify(text.slice(0, 30)));
  }
});

t.test('injecting twice is injecting once', async (t) => {
  const once = injectManifests(`${SERVICE}---\n${DEPLOYMENT}`, SETTINGS);
  const twice = injectManifests(once.output, SETTINGS);
  t.equal(twice.output, once.output);
  t.same(twice.notes, ['Deployment/web: skipped: injected already']);
  // A sidecar container alone (the annotation removed by hand) counts too.
  const byContainer = injectManifests(once.output.replace('meshlet.io/injected: "true"\n', ''), SETTINGS);
  t.same(byContainer.notes, ['Deployment/web: skipped: injected already']);
});

t.test('opting out, host-network pods, and pods without a name are left alone, with a note', async (t) => {
  const cases: [string, string][] = [
    ['kind: Deployment\nmetadata: {name: a, annotations: {meshlet.io/inject: "false"}}\nspec: {template: {spec: {containers: [{name: a}]}}}', 'Deployment/a: skipped: meshlet.io/inject is "false"'],
    ['kind: Deployment\nmetadata: {name: b}\nspec: {template: {metadata: {annotations: {meshlet.io/inject: false}}, spec: {containers: [{name: a}]}}}', 'Deployment/b: skipped: meshlet.io/inject is "false"'],
    ['kind: DaemonSet\nmetadata: {name: c}\nspec: {template: {spec: {hostNetwork: true, containers: [{name: a}]}}}', "DaemonSet/c: skipped: hostNetwork: the init step would rewrite the node's own iptables"],
    ['kind: Pod\nmetadata: {generateName: d-}\nspec: {containers: [{name: a}]}', 'Pod/d-: skipped: no service name: give it the label "app" or the annotation meshlet.io/service'],
    ['kind: Job\nmetadata: {name: e}\nspec: {template: {spec: {containers: []}}}', 'Job/e: skipped: its pod has no containers'],
  ];
  for (const [text, note] of cases) {
    const result = injectManifests(text, SETTINGS);
    t.equal(result.output, text, note);
    t.same(result.notes, [note]);
  }
});

t.test('the service: annotation meshlet.io/service, else the label app, else the name', async (t) => {
  const service = (text: string) => injected(text)[0].spec.template.spec.containers[0].env.find((e: any) => e.name === 'MESHLET_SERVICE').value;
  t.equal(service('kind: Deployment\nmetadata: {name: n, labels: {app: w}}\nspec: {template: {metadata: {labels: {app: t}, annotations: {meshlet.io/service: a}}, spec: {containers: [{name: c}]}}}'), 'a');
  t.equal(service('kind: Deployment\nmetadata: {name: n, labels: {app: w}, annotations: {meshlet.io/service: a}}\nspec: {template: {metadata: {labels: {app: t}}, spec: {containers: [{name: c}]}}}'), 'a');
  t.equal(service('kind: Deployment\nmetadata: {name: n, labels: {app: w}}\nspec: {template: {metadata: {labels: {app: t}}, spec: {containers: [{name: c}]}}}'), 't');
  t.equal(service('kind: Deployment\nmetadata: {name: n, labels: {app: w}}\nspec: {template: {spec: {containers: [{name: c}]}}}'), 'w');
  t.equal(service('kind: Deployment\nmetadata: {name: n}\nspec: {template: {spec: {containers: [{name: c}]}}}'), 'n');
});

t.test('exclusion annotations become the init step flags; invalid ones stop the injection', async (t) => {
  const text = `kind: Pod
metadata:
  name: p
  annotations:
    meshlet.io/exclude-outbound-ports: "5432,6379"
    meshlet.io/exclude-outbound-cidrs: 10.96.0.1/32
    meshlet.io/exclude-inbound-ports: "9090"
spec: {containers: [{name: c}]}
`;
  t.same(injected(text)[0].spec.initContainers[0].args.slice(8), [
    '--exclude-inbound-ports', '9090',
    '--exclude-outbound-ports', '5432,6379',
    '--exclude-outbound-cidrs', '10.96.0.1/32',
  ]);
  t.throws(() => injectManifests(text.replace('5432,6379', '5432,postgres'), SETTINGS), new ManifestError(
    'Pod/p: annotation meshlet.io/exclude-outbound-ports (meshlet iptables --exclude-outbound-ports: "postgres" is not a port number (1-65535))',
  ));
});

t.test('an existing default-container annotation is kept; flow-style pods come out in block style', async (t) => {
  const text = 'kind: Pod\nmetadata: {name: p, annotations: {kubectl.kubernetes.io/default-container: b}}\nspec: {containers: [{name: a}, {name: b}]}\n';
  const { output } = injectManifests(text, SETTINGS);
  t.match(output, 'kubectl.kubernetes.io/default-container: b\n');
  t.match(output, '\n  containers:\n  - name: meshlet-proxy\n', 'block style, kubectl indentation');
  t.match(output, '    args: [proxy, --mode, sidecar]\n', 'lists of plain values on one line');
});

t.test('empty (null) metadata, annotations and initContainers are filled in', async (t) => {
  const [doc] = injected('kind: Deployment\nmetadata: {name: n}\nspec:\n  template:\n    metadata:\n    spec:\n      initContainers:\n      containers: [{name: c}]\n');
  t.same(doc.spec.template.metadata.annotations, { 'meshlet.io/injected': 'true', 'kubectl.kubernetes.io/default-container': 'c' });
  t.same(doc.spec.template.spec.initContainers.map((c: any) => c.name), ['meshlet-init']);
  const [pod] = injected('kind: Pod\nmetadata: {name: p, annotations: }\nspec: {containers: [{name: c}]}\n');
  t.equal(pod.metadata.annotations['meshlet.io/injected'], 'true');
});

t.test('sequence indentation follows the document', async (t) => {
  t.equal(indentsSequences('a:\n- 1\n'), false);
  t.equal(indentsSequences('a:\n  - 1\n'), true);
  t.equal(indentsSequences('spec:\n  template:\n    spec:\n      containers:\n        - name: x\n'), true);
  t.equal(indentsSequences('a: [1]\nb: {c: 1}\n'), false, 'no block sequence: kubectl style');
  const indented = DEPLOYMENT.replace(/^( *)- /gm, '$1  - ').replace(/^( *)(image|ports|containerPort)/gm, '$1  $2');
  t.match(injectManifests(indented, SETTINGS).output, '      containers:\n        - name: meshlet-proxy\n');
});

t.test('YAML errors name the document and the position', async (t) => {
  t.throws(() => injectManifests(`${SERVICE}---\nkind: Pod\nmetadata:\n  name: p\n   bad: [\n`, SETTINGS), /^document 2 is not valid YAML: .* at line \d+, column \d+/);
  t.throws(() => injectManifests('a: 1\na: 2\n', SETTINGS), /document 1 is not valid YAML: Map keys must be unique/);
});

t.test('defaults: the image of this version, the control plane of examples/kubernetes', async (t) => {
  t.equal(DEFAULT_IMAGE, `ghcr.io/meshlet/meshlet:${require('../../../package.json').version}`);
  t.equal(DEFAULT_XDS_ADDRESS, 'meshlet-control-plane.meshlet-system.svc:18000');
});

t.test("the postStart script waits for /ready, and gives up after its timeout", async (t) => {
  const port = await freePort();
  let requests = 0;
  const server = createServer((_, res) => res.writeHead(++requests >= 3 ? 200 : 503).end()).listen(port, '127.0.0.1');
  t.teardown(() => void server.close());
  const run = (url: string, timeoutS: number) =>
    new Promise<number | null>((resolve) => spawn(process.execPath, ['-e', waitReadyScript(url, timeoutS)], { stdio: 'ignore' }).once('exit', resolve));
  t.equal(await run(`http://127.0.0.1:${port}/ready`, 10), 0, 'exit 0 once ready');
  t.equal(requests, 3, 'after polling through the 503s');
  const closed = await freePort();
  const started = Date.now();
  t.equal(await run(`http://127.0.0.1:${closed}/ready`, 1), 1, 'exit 1 when never ready');
  t.ok(Date.now() - started < 5000, 'within about its timeout');
});

t.test('the preStop script fails health checks at once, then waits out its delay; an admin already gone does not shorten it', async (t) => {
  const port = await freePort();
  const posted: number[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/healthcheck/fail') posted.push(Date.now());
    res.end('OK\n');
  }).listen(port, '127.0.0.1');
  t.teardown(() => void server.close());
  const run = (url: string) =>
    new Promise<{ code: number | null; ms: number }>((resolve) => {
      const started = Date.now();
      spawn(process.execPath, ['-e', preStopScript(url, 1)], { stdio: 'ignore' }).once('exit', (code) => resolve({ code, ms: Date.now() - started }));
    });
  const { code, ms } = await run(`http://127.0.0.1:${port}/healthcheck/fail`);
  t.equal(code, 0);
  t.equal(posted.length, 1, 'POST /healthcheck/fail, once');
  t.ok(ms >= 1000, `then the delay (${ms} ms)`);
  const gone = await run(`http://127.0.0.1:${await freePort()}/healthcheck/fail`);
  t.equal(gone.code, 0);
  t.ok(gone.ms >= 1000, `the same delay without an admin (${gone.ms} ms)`);
});
