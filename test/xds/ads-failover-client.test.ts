/**
 * The ADS client over two in-process control planes (AdsTestServer): which replica each stream
 * goes to, and what a stream to a new replica says (SotW: the last accepted version, no nonce;
 * Delta: what is held, in initial_resource_versions; the node again either way).
 */
import t from 'tap';
import pino from 'pino';
import { createServer, type Socket } from 'node:net';
import { AdsClient, type AdsHandler } from '../../xds/ads-client';
import { SOTW_PROTOCOL } from '../../xds/ads-sotw-protocol';
import { DELTA_PROTOCOL } from '../../xds/delta-protocol';
import { CLUSTER } from '../../xds/xds-resource-types';
import { AdsTestServer, CDS, edsCluster, type DeltaRequest, type SotwRequest } from '../helpers/ads-test-server';
import { freePort } from '../helpers/proxy-process';

/** A handler that records connections and updates, and the client's log lines. */
function recorder() {
  const events: string[] = [];
  const logs: string[] = [];
  const handler: AdsHandler = {
    apply: () => undefined,
    accepted: (u) => events.push(`accepted ${u.type.api} ${u.version}`),
    rejected: () => undefined,
    connected: (target) => events.push(target === undefined ? 'down' : `up ${target}`),
  };
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line).msg) });
  return { events, logs, handler, log };
}

async function server(t: tap.Test): Promise<AdsTestServer> {
  const ads = await AdsTestServer.start();
  t.teardown(() => ads.stop());
  return ads;
}

/** Polls `check` every 20 ms until it holds, for at most `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

t.test('SotW: when the replica goes away, the next stream goes to the next one and says what is held; then round again', async (t) => {
  const [a, b] = [await server(t), await server(t)];
  const [targetA, targetB] = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
  const { events, logs, handler, log } = recorder();
  const client = new AdsClient(SOTW_PROTOCOL, { target: [targetA, targetB], node: { id: 'n1' }, nodeOnFirstMessageOnly: true }, handler, log);
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  client.start();

  const onA = await a.nextStream<SotwRequest>();
  t.match(await onA.next(CDS), { version_info: '', response_nonce: '', node: { id: 'n1' } });
  const nonce = onA.respond(CDS, 'v1', [edsCluster('backend')]);
  t.match(await onA.next(CDS), { version_info: 'v1', response_nonce: nonce });

  a.stop();
  const onB = await b.nextStream<SotwRequest>();
  t.match(
    await onB.next(CDS),
    { version_info: 'v1', response_nonce: '', resource_names: [], node: { id: 'n1' } },
    'the new replica hears the last accepted version, no nonce of the old stream, and the node',
  );
  t.ok(await until(() => events.includes(`up ${targetB}`)), 'connected to B');
  t.same(events, [`up ${targetA}`, 'accepted CDS v1', 'down', `up ${targetB}`]);
  t.same(logs.filter((m) => m.startsWith('connected')), [`connected to control plane ${targetA}`, `connected to control plane ${targetB} (was ${targetA})`]);

  await a.restart();
  onB.end();
  const backOnA = await a.nextStream<SotwRequest>();
  t.match(await backOnA.next(CDS), { version_info: 'v1', response_nonce: '' }, 'after B, round to A again');
});

t.test('Delta: the new replica is told, in initial_resource_versions, what is held', async (t) => {
  const [a, b] = [await server(t), await server(t)];
  const { handler, log } = recorder();
  const client = new AdsClient(DELTA_PROTOCOL, { target: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], node: { id: 'n1' }, nodeOnFirstMessageOnly: true }, handler, log);
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  client.start();

  const onA = await a.nextStream<DeltaRequest>();
  t.match(await onA.next(CDS), { initial_resource_versions: {}, node: { id: 'n1' } });
  const nonce = onA.respondDelta(CDS, { backend: ['1', edsCluster('backend')], other: ['7', edsCluster('other')] });
  t.match(await onA.next(CDS), { response_nonce: nonce });
  onA.respondDelta(CDS, {}, ['other']);
  await onA.next(CDS);

  a.stop();
  const onB = await b.nextStream<DeltaRequest>();
  const first = await onB.next(CDS);
  t.same(first.initial_resource_versions, { backend: '1' }, 'what is held now (a removed resource is not)');
  t.match(first, { resource_names_subscribe: [], response_nonce: '', node: { id: 'n1' } });
});

t.test('a replica that refuses connections is skipped at start: the stream goes on to the next', async (t) => {
  const b = await server(t);
  const closed = `127.0.0.1:${await freePort()}`;
  const { events, handler, log } = recorder();
  const client = new AdsClient(SOTW_PROTOCOL, { target: [closed, `127.0.0.1:${b.port}`], node: { id: 'n1' }, nodeOnFirstMessageOnly: false }, handler, log);
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  const startedAt = Date.now();
  client.start();
  await (await b.nextStream<SotwRequest>(5000)).next(CDS);
  t.comment(`on B ${Date.now() - startedAt} ms after start`);
  t.ok(await until(() => events.length > 0));
  t.same(events, [`up 127.0.0.1:${b.port}`], 'never connected to the closed one');
});

t.test('a replica that accepts connections but never answers is given up on after connect_timeout', async (t) => {
  const b = await server(t);
  // A TCP listener that never speaks HTTP/2, as a hung (or stopped) control plane: the kernel
  // completes the handshake, grpc-js waits for the server's SETTINGS.
  const sockets: Socket[] = [];
  const hung = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    hung.close();
  });
  const hungTarget = `127.0.0.1:${(hung.address() as { port: number }).port}`;
  const { events, logs, handler, log } = recorder();
  const client = new AdsClient(
    SOTW_PROTOCOL,
    { target: [hungTarget, `127.0.0.1:${b.port}`], connectTimeoutMs: 300, node: { id: 'n1' }, nodeOnFirstMessageOnly: false },
    handler,
    log,
  );
  t.teardown(() => client.close());
  client.subscribe(CLUSTER);
  const startedAt = Date.now();
  client.start();
  await (await b.nextStream<SotwRequest>(5000)).next(CDS);
  const elapsed = Date.now() - startedAt;
  t.ok(elapsed >= 300, `on B only after the connect timeout (${elapsed} ms)`);
  t.ok(sockets.length >= 1, 'the hung replica was tried first');
  t.ok(await until(() => events.length > 0));
  t.same(events, [`up 127.0.0.1:${b.port}`]);
  t.ok(logs.includes('control plane not connected within connect_timeout; giving up on this attempt'));
});
