import replyFrom from '@fastify/reply-from';
import fastify from 'fastify';
import { exitWhenParentExits } from '../child-lifeline';
import { parsePeerArgs, PEER_KEEP_ALIVE_MS } from './peer-args';

// @fastify/reply-from as a peer: fastify's routing plus undici upstream pooling, as a Fastify user would proxy.
exitWhenParentExits();
const args = parsePeerArgs(process.argv.slice(2));
const app = fastify({ logger: false, keepAliveTimeout: PEER_KEEP_ALIVE_MS });
void app.register(replyFrom, {
  base: `http://${args.upstreamHost}:${args.upstreamPort}`,
  undici: { connections: 64, pipelining: 1 },
});
app.all('/*', (request, reply) => reply.from(request.url));
app.listen({ port: args.port, host: '127.0.0.1' }).catch((err: unknown) => {
  process.stderr.write(`fastify-reply-from: ${String(err)}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));
