import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What the upstream does with one request. */
export type Behaviour =
  /** Answer `status` (after `delayMs`), with `body` (default: the upstream's name and the status) and extra headers. */
  | { readonly status: number; readonly body?: string; readonly headers?: Readonly<Record<string, string>>; readonly delayMs?: number }
  /** Destroy the connection without a response byte (after `delayMs`). */
  | { readonly reset: 'before-response'; readonly delayMs?: number }
  /** Send headers and part of the body, then destroy the connection. */
  | { readonly reset: 'mid-body' }
  /** Never answer (until the upstream is closed, or the proxy gives up). */
  | { readonly hang: true };

/** A request as the upstream saw it. */
export interface SeenRequest {
  /** 1-based, over the upstream's life. */
  readonly n: number;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** Which connection (1-based, in accept order) and how many requests it carried before this one. */
  readonly connection: number;
  readonly previousOnConnection: number;
  /** performance.now() when the request (with its body) had arrived. */
  readonly receivedAt: number;
  /** performance.now() when the response was written out, if one was. */
  respondedAt?: number;
}

export type Script = (req: SeenRequest) => Behaviour;

/**
 * Fails the first request for each URL with `first`, then answers the same URL with `then`:
 * "the first attempt fails, the retry does not" whatever order concurrent attempts arrive in.
 */
export function firstAttemptFails(first: Behaviour, then: Behaviour): Script {
  const seen = new Set<string>();
  return (r) => {
    if (seen.has(r.url)) return then;
    seen.add(r.url);
    return first;
  };
}

export interface FaultyUpstreamOptions {
  /**
   * Close a keep-alive connection after it has been idle this long, without advertising it
   * (no `Keep-Alive: timeout` hint, so the client keeps reusing the connection): the keep-alive race.
   */
  readonly idleCloseMs?: number;
}

/**
 * An HTTP/1.1 upstream on 127.0.0.1 whose behaviour per request is programmable: a status,
 * a reset before the response or mid-body, a hang, a delay; it records every request it saw.
 */
export class FaultyUpstream {
  readonly seen: SeenRequest[] = [];
  private script: Script;
  private readonly queue: Behaviour[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly connectionOf = new WeakMap<Socket, { id: number; requests: number; idle?: NodeJS.Timeout }>();
  private connections = 0;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly server: Server,
    readonly port: number,
    private readonly options: FaultyUpstreamOptions,
  ) {
    this.script = () => ({ status: 200 });
  }

  static async start(name: string, options: FaultyUpstreamOptions = {}): Promise<FaultyUpstream> {
    const server = createServer();
    // The idle close is ours (idleCloseMs); node's would also advertise itself in a Keep-Alive header.
    server.keepAliveTimeout = options.idleCloseMs === undefined ? 5000 : 0;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const upstream = new FaultyUpstream(name, server, port, options);
    server.on('connection', (s) => upstream.accepted(s));
    server.on('request', (req, res) => upstream.handle(req, res));
    return upstream;
  }

  /** Every request from now on (after the queued ones) follows `script`. */
  behave(script: Script | Behaviour): this {
    this.script = typeof script === 'function' ? script : () => script;
    return this;
  }

  /** The next requests take these behaviours, in order, before the script applies again. */
  next(...behaviours: Behaviour[]): this {
    this.queue.push(...behaviours);
    return this;
  }

  /** Back to 200 for everything, queue emptied, history kept. */
  reset(): this {
    this.queue.length = 0;
    return this.behave({ status: 200 });
  }

  get requests(): number {
    return this.seen.length;
  }

  /** Requests seen since `since` (an earlier value of `requests`). */
  since(since: number): SeenRequest[] {
    return this.seen.slice(since);
  }

  /** Stops accepting and destroys every connection: the upstream is gone (connect failures from now on). */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accepted(socket: Socket): void {
    this.sockets.add(socket);
    this.connectionOf.set(socket, { id: ++this.connections, requests: 0 });
    socket.once('close', () => this.sockets.delete(socket));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.connectionOf.get(req.socket)!;
    if (conn.idle !== undefined) clearTimeout(conn.idle);
    const previousOnConnection = conn.requests++;
    let requestNumber = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: SeenRequest = {
        n: this.seen.length + 1,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        connection: conn.id,
        previousOnConnection,
        receivedAt: performance.now(),
      };
      this.seen.push(seen);
      requestNumber = seen.n;
      this.act(this.queue.shift() ?? this.script(seen), seen, req, res);
    });
    res.once('finish', () => {
      const seen = this.seen.find((r) => r.n === requestNumber);
      if (seen !== undefined) seen.respondedAt = performance.now();
      if (this.options.idleCloseMs !== undefined && !this.closed) {
        conn.idle = setTimeout(() => req.socket.destroy(), this.options.idleCloseMs);
      }
    });
  }

  private act(behaviour: Behaviour, seen: SeenRequest, req: IncomingMessage, res: ServerResponse): void {
    if ('hang' in behaviour) return;
    if ('reset' in behaviour) {
      if (behaviour.reset === 'mid-body') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
        res.write('x'.repeat(100), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      const destroy = () => req.socket.destroy();
      if (behaviour.delayMs) setTimeout(destroy, behaviour.delayMs);
      else destroy();
      return;
    }
    const reply = () => {
      if (res.destroyed) return;
      const body = behaviour.body ?? `${this.name} ${behaviour.status} #${seen.n}\n`;
      res.writeHead(behaviour.status, {
        'content-type': 'text/plain',
        'content-length': String(Buffer.byteLength(body)),
        'x-upstream': this.name,
        ...behaviour.headers,
      });
      res.end(body);
    };
    if (behaviour.delayMs) setTimeout(reply, behaviour.delayMs);
    else reply();
  }
}

/** The proxy's /stats/prometheus, read the way the resilience tests read it. */
export class Metrics {
  private constructor(private readonly text: string) {}

  static async scrape(adminUrl: string): Promise<Metrics> {
    const res = await fetch(`${adminUrl}/stats/prometheus`);
    return new Metrics(await res.text());
  }

  /** `envoy_cluster_<name>{envoy_cluster_name="<cluster>"}`, 0 when absent. */
  cluster(name: string, cluster: string): number {
    return this.value(`envoy_cluster_${name}{envoy_cluster_name="${cluster}"}`);
  }

  /** Downstream requests with response flag `flag` (each flag of `UF,URX` counts on its own). */
  responseFlag(flag: string): number {
    return this.value(`meshlet_http_downstream_rq_response_flag_total{response_flag="${flag}",envoy_http_conn_manager_prefix="main_http"}`);
  }

  /** The sum of histogram `name` over the series of route `route`, in seconds. */
  histogramSum(name: string, route: string): number {
    let sum = 0;
    for (const line of this.text.split('\n')) {
      if (line.startsWith(`${name}_sum{`) && line.includes(`route="${route}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  private value(series: string): number {
    for (const line of this.text.split('\n')) {
      if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
    }
    return 0;
  }
}
