import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startEchoServer } from '../../../cli/echo-server';
import { bootstrapYaml, catchAllVirtualHost, freePort, startProxy, staticCluster, type ProxyProcess } from '../../helpers/proxy-process';

const MB = 1024 * 1024;
const SIZE = 200 * MB;
let proxy: ProxyProcess;
let upstream: Server;
let base: string;

t.before(async () => {
  const [adminPort, listenerPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  upstream = await startEchoServer('echo', echoPort);
  base = `http://127.0.0.1:${listenerPort}`;
  proxy = await startProxy(
    bootstrapYaml({
      adminPort,
      listenerPort,
      virtualHosts: catchAllVirtualHost('echo', '60s'),
      clusters: staticCluster('echo', [{ port: echoPort }]),
    }),
    adminPort,
  );
});

t.teardown(async () => {
  await proxy?.stop();
  upstream?.close();
});

/** Peak resident memory of a process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** A body generated lazily, so the test's own memory does not hold the body either. */
function body(size: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 'm');
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

t.test('200 MB streams through the proxy both ways without the proxy buffering it', async (t) => {
  const pid = proxy.child.pid!;
  // Warm up so lazily loaded code and pools are counted before the baseline.
  await (await request(`${base}/bytes/1024`)).body.text();
  const before = peakRss(pid);

  const download = await request(`${base}/bytes/${SIZE}`);
  let downloaded = 0;
  for await (const chunk of download.body) downloaded += chunk.length;
  t.equal(downloaded, SIZE, 'download complete');

  const upload = await request(`${base}/upload`, { method: 'POST', body: body(SIZE), headers: { 'content-type': 'application/octet-stream' } });
  let echoed = 0;
  for await (const chunk of upload.body) echoed += chunk.length;
  t.equal(upload.statusCode, 200);
  t.equal(echoed, SIZE, 'upload echoed back complete (chunked both ways)');

  // Chunks are garbage once written; V8 collects them after ~64 MB of external memory, so the
  // peak grows by that much whatever the size. Buffering a body would grow it by the body.
  const growth = peakRss(pid) - before;
  t.ok(growth < SIZE / 2, `peak RSS grew by ${(growth / MB).toFixed(1)} MB for ${(2 * SIZE) / MB} MB moved`);
});
