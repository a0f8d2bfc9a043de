/** The control plane's admin port: readiness for probes, metrics, and what it serves to whom. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AdminSource {
  /** True once the first snapshot is built. */
  ready(): boolean;
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  configDump(): unknown;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

const PATHS: Record<string, { readonly help: string; readonly handle: (source: AdminSource, res: ServerResponse) => void | Promise<void> }> = {
  '/ready': {
    help: '200 LIVE once the first snapshot is built, 503 before',
    handle: (source, res) => send(res, source.ready() ? 200 : 503, source.ready() ? 'LIVE\n' : 'INITIALIZING\n'),
  },
  '/stats/prometheus': {
    help: 'metrics: connected proxies, pushes, NACKs, push latency, mesh reloads',
    handle: async (source, res) => {
      const { contentType, body } = await source.metrics();
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    },
  },
  '/config_dump': {
    help: 'the snapshot of every node role as proto3 JSON, and the connected nodes with their subscriptions',
    handle: (source, res) => send(res, 200, `${JSON.stringify(source.configDump(), null, 2)}\n`, 'application/json'),
  },
};

export async function startAdminServer(source: AdminSource, address: string, port: number): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const endpoint = PATHS[path];
    if (endpoint === undefined || req.method !== 'GET') {
      send(res, 404, `meshlet control-plane admin:\n${Object.entries(PATHS).map(([p, e]) => `  GET ${p}: ${e.help}\n`).join('')}`);
      return;
    }
    Promise.resolve(endpoint.handle(source, res)).catch((err: Error) => send(res, 500, `${err.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}
