import http from 'node:http';
import { parseArgs } from 'node:util';
import { exitWhenParentExits } from './child-lifeline';

/** Exactly 64 bytes, so every system moves the same payload and per-request costs compare. */
export const UPSTREAM_BODY = Buffer.from('meshlet bench upstream: a fixed 64-byte body for every request.\n', 'latin1');

// The upstream for every system: as little work per request as node:http allows, so that core 1 has as
// much room as possible left for the load generator. Prints {"port":N} once listening.
function main(): void {
  exitWhenParentExits();
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
  const headers = { 'content-type': 'text/plain', 'content-length': String(UPSTREAM_BODY.length) };
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, headers);
    res.end(UPSTREAM_BODY);
  });
  // Proxies keep idle upstream connections for a long time; the default 5 s would make them reconnect between rounds.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  server.listen(Number(values.port), values.host, () => {
    const addr = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
  });
  process.on('SIGTERM', () => {
    process.stderr.write(`SIGTERM: exiting\n`);
    process.exit(0);
  });
}

if (require.main === module) main();
