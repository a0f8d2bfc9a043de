import { createServer, type Server } from 'node:http';

/**
 * A small upstream for the demo and the tests. Every response names the
 * server, so weighted balancing is visible from the outside.
 *   GET  /anything         → JSON {server, method, url, headers}
 *   POST /anything         → the request body streamed back
 *   GET  /status/NNN       → that status
 *   GET  /delay/MS         → JSON after MS milliseconds
 *   GET  /bytes/N          → N bytes, streamed in 64 KiB chunks
 *   GET  /reset            → the connection destroyed before any response
 */
export function startEchoServer(name: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const [, verb, arg] = url.split('?')[0]!.split('/');
    if (verb === 'reset') return req.socket.destroy();
    if (verb === 'status') {
      res.writeHead(Number(arg) || 500, { 'content-type': 'text/plain', 'x-served-by': name });
      return res.end(`${name}\n`);
    }
    if (verb === 'bytes') return streamBytes(res, Number(arg) || 0, name);
    if (req.method === 'POST' || req.method === 'PUT') {
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-served-by': name });
      req.pipe(res);
      return;
    }
    const reply = () => {
      const body = JSON.stringify({ server: name, method: req.method, url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': name });
      res.end(body);
    };
    if (verb === 'delay') setTimeout(reply, Number(arg) || 0);
    else reply();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function streamBytes(res: import('node:http').ServerResponse, total: number, name: string): void {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total), 'x-served-by': name });
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}
