import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ProxyServer } from '../server';
import { clustersJson, clustersText } from './clusters-view';
import { configDump } from './config-dump';

const VERSION: string = require('../../../package.json').version;

interface AdminEndpoint {
  readonly method: 'GET' | 'POST';
  readonly help: string;
  readonly handle: (proxy: ProxyServer, url: URL, res: ServerResponse) => void | Promise<void>;
}

/**
 * Envoy's admin interface, on its own listener so it keeps answering when the
 * data plane is busy or draining. Paths and answers follow Envoy's, so existing
 * probes and tooling (`/ready`, `/stats/prometheus`, `/quitquitquit`) work.
 */
const ENDPOINTS: Record<string, AdminEndpoint> = {
  '/ready': {
    method: 'GET',
    help: 'Server state: 200 LIVE once config is applied and warm; 503 otherwise',
    handle: (proxy, _url, res) => {
      const state = proxy.healthCheckFailed && proxy.state === 'LIVE' ? 'DRAINING' : proxy.state;
      send(res, state === 'LIVE' ? 200 : 503, `${state}\n`);
    },
  },
  '/server_info': {
    method: 'GET',
    help: 'Version, state, uptime, node and memory as JSON',
    handle: (proxy, _url, res) => {
      const memory = process.memoryUsage();
      sendJson(res, {
        version: `meshlet/${VERSION}`,
        state: proxy.state,
        health_check_failed: proxy.healthCheckFailed,
        uptime_current_epoch: `${Math.floor((Date.now() - proxy.startedAt) / 1000)}s`,
        node: proxy.bootstrap.node,
        memory: { rss: memory.rss, heap_used: memory.heapUsed, heap_total: memory.heapTotal, external: memory.external },
        node_version: process.version,
      });
    },
  },
  '/stats/prometheus': {
    method: 'GET',
    help: 'All metrics in the Prometheus text format',
    handle: async (proxy, _url, res) => {
      const body = await proxy.metricsText();
      res.writeHead(200, { 'content-type': proxy.stats.registry.contentType });
      res.end(body);
    },
  },
  '/config_dump': {
    method: 'GET',
    help: 'The effective configuration as JSON',
    handle: (proxy, _url, res) => sendJson(res, configDump(proxy)),
  },
  '/clusters': {
    method: 'GET',
    help: 'Clusters and their hosts (weight, health, active requests); ?format=json for JSON',
    handle: (proxy, url, res) =>
      url.searchParams.get('format') === 'json' ? sendJson(res, clustersJson(proxy)) : send(res, 200, clustersText(proxy)),
  },
  '/listeners': {
    method: 'GET',
    help: 'Listeners and their bound addresses',
    handle: (proxy, _url, res) =>
      send(res, 200, [...proxy.listeners.values()].map((l) => `${l.config.name}::${l.config.address}:${l.port}\n`).join('')),
  },
  '/healthcheck/fail': {
    method: 'POST',
    help: 'Fail /ready (DRAINING) and leave the registry (--register) so load balancers take this instance out before it stops',
    handle: async (proxy, _url, res) => {
      await proxy.failHealthChecks();
      send(res, 200, 'OK\n');
    },
  },
  '/healthcheck/ok': {
    method: 'POST',
    help: 'Undo /healthcheck/fail',
    handle: (proxy, _url, res) => {
      proxy.healthCheckFailed = false;
      send(res, 200, 'OK\n');
    },
  },
  '/drain_listeners': {
    method: 'POST',
    help: 'Stop accepting and drain every listener (in-flight requests finish), without exiting',
    handle: (proxy, _url, res) => {
      send(res, 200, 'OK\n');
      void proxy.drainListeners();
    },
  },
  '/quitquitquit': {
    method: 'POST',
    help: 'Drain and exit (for Jobs whose main container has finished)',
    handle: (proxy, _url, res) => {
      send(res, 200, 'OK\n');
      // Answer first: the caller is often the app's own exit path, waiting on this response.
      setImmediate(() => void proxy.shutdown('/quitquitquit').then(() => process.exit(0)));
    },
  },
};

export class AdminServer {
  private readonly server: Server;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly address: string,
    private readonly requestedPort: number,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.requestedPort;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`admin cannot bind ${this.address}:${this.requestedPort}: ${err.code ?? err.message}`)),
      );
      this.server.listen(this.requestedPort, this.address, () => resolve());
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/' || url.pathname === '/help') {
      send(res, 200, Object.entries(ENDPOINTS).map(([path, e]) => `  ${e.method} ${path}: ${e.help}\n`).join(''));
      return;
    }
    const endpoint = ENDPOINTS[url.pathname];
    if (endpoint === undefined) return send(res, 404, `no admin endpoint ${url.pathname}; see /help\n`);
    if (req.method !== endpoint.method && !(endpoint.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', endpoint.method);
      return send(res, 405, `${url.pathname} requires ${endpoint.method}\n`);
    }
    try {
      await endpoint.handle(this.proxy, url, res);
    } catch (err) {
      this.proxy.log.error({ err, path: url.pathname }, 'admin endpoint failed');
      if (!res.headersSent) send(res, 500, `${(err as Error).message}\n`);
    }
  }
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value, (_k, v) => (v?.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : v), 2));
}
