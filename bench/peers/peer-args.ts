import { parseArgs } from 'node:util';

export interface PeerArgs {
  port: number;
  upstreamHost: string;
  upstreamPort: number;
}

/** The Node peers are configured by argv: `--port P --upstream HOST:PORT`. */
export function parsePeerArgs(argv: string[]): PeerArgs {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, upstream: { type: 'string' } } });
  const m = /^(.+):(\d+)$/.exec(values.upstream ?? '');
  if (!values.port || !m) throw new Error('usage: --port P --upstream HOST:PORT');
  return { port: Number(values.port), upstreamHost: m[1], upstreamPort: Number(m[2]) };
}

export function peerArgv(listenPort: number, upstreamPort: number): string[] {
  return ['--port', String(listenPort), '--upstream', `127.0.0.1:${upstreamPort}`];
}

/** Matches the upstream and the generator: idle keep-alive connections must survive between rounds. */
export const PEER_KEEP_ALIVE_MS = 120_000;
