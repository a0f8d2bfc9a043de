/**
 * examples/kubernetes stays true: the injected sample is what `meshlet inject` makes of the
 * sample today, the mesh file in the control plane's ConfigMap is valid, and the pieces name
 * each other consistently (addresses, ports, image).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS } from '../../cli/kubernetes/sidecar-containers';
import { loadMesh } from '../../xds/control-plane/control-plane';
import { MESHLET_BIN, writeTempFile } from '../helpers/proxy-process';

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
