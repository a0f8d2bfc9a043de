import http from 'node:http';
import { Pool } from 'undici';
import { exitWhenParentExits } from '../child-lifeline';
import { parsePeerArgs, PEER_KEEP_ALIVE_MS } from './peer-args';

// The hand-written floor for a Node proxy: node:http in, undici Pool.stream out, nothing else. A Node
// proxy with features should be compared with this to see what its features cost.
exitWhenParentExits();
const args = parsePeerArgs(process.argv.slice(2));
const pool = new Pool(`http://${args.upstreamHost}:${args.upstreamPort}`, { connections: 64, pipelining: 1 });

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const server = http.createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.stream(
    { path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers: endToEnd(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers));
      return res;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    },
  );
});
server.keepAliveTimeout = PEER_KEEP_ALIVE_MS;
server.headersTimeout = PEER_KEEP_ALIVE_MS + 1000;
server.listen(args.port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
