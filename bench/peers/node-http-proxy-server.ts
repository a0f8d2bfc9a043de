import http from 'node:http';
import httpProxy from 'http-proxy';
import { exitWhenParentExits } from '../child-lifeline';
import { parsePeerArgs, PEER_KEEP_ALIVE_MS } from './peer-args';

// node-http-proxy as a peer: the classic Node reverse proxy, given a keep-alive agent so it reuses
// upstream connections like every other peer does (without one it opens a connection per request).
exitWhenParentExits();
const args = parsePeerArgs(process.argv.slice(2));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target: `http://${args.upstreamHost}:${args.upstreamPort}`, agent });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = PEER_KEEP_ALIVE_MS;
server.headersTimeout = PEER_KEEP_ALIVE_MS + 1000;
server.listen(args.port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
