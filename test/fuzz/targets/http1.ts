/**
 * HTTP/1 request path fuzz target: a real `meshlet proxy` process (bootstrapYaml from the test
 * helpers: one listener, a catch-all route with websocket upgrades, an access log on stdout) in
 * front of a recording upstream (node:http, strict parser), fed raw bytes over TCP (http1-cases.ts).
 *
 * Three views of every request, tied together by the token each request carries in its path and
 * User-Agent (see http1-cases.ts):
 * - the upstream records the tokens of the requests it parsed, and echoes them in `x-fuzz-echo`;
 * - the proxy's access log says which requests the proxy parsed, and their response codes;
 * - the client sees the responses on its connection.
 *
 * Failures (the property):
 * - `smuggling`: the upstream parsed a request (token) that the proxy never logged as a request
 *   of its own: bytes the proxy took as a body, a tunnel or garbage became a request upstream;
 * - `rejected-but-forwarded`: the proxy logged a token with a 4xx of its own, yet the upstream got it;
 * - `upstream-parse-error`: the proxy sent the upstream bytes its (strict) parser rejects;
 * - `connection-hang`: after the client half-closed, the connection stayed open past `closeTimeoutMs`;
 * - `proxy-down`: the process exited, or /ready stopped answering 200, after a batch.
 * Warnings (recorded, never failing): `client-400-but-forwarded` (the first response on the
 * connection is a 400 though the first request reached the upstream whole: node's HTTP/1 server answers a
 * parse error in a later pipelined request in place of the earlier request's response).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Finding } from '../lib/findings';
import { MESHLET_BIN, bootstrapYaml, catchAllVirtualHost, freePort, staticCluster, writeTempFile } from '../../helpers/proxy-process';
import { generateHttpCase, tokenCase, tokensIn, type HttpCase } from './http1-cases';

export interface Http1RunOptions {
  readonly seed: number;
  readonly startIndex?: number;
  readonly maxCases: number;
  readonly seconds: number;
  /** Connections in flight at once (a batch). */
  readonly concurrency?: number;
  /** After the client's FIN, the proxy must close within this. */
  readonly closeTimeoutMs?: number;
  /** Findings kept per kind (the rest are counted). */
  readonly keepPerKind?: number;
  readonly onFinding: (finding: Finding) => void;
  readonly log?: (line: string) => void;
}

export interface Http1RunSummary {
  readonly seed: number;
  readonly firstIndex: number;
  readonly nextIndex: number;
  readonly cases: number;
  readonly batches: number;
  readonly failures: number;
  readonly warnings: number;
  readonly seconds: number;
  /** Requests the upstream received, with a token / without. */
  readonly upstreamRequests: number;
  readonly upstreamUntagged: number;
  /** Requests the proxy logged, by response code. */
  readonly proxyStatuses: Record<string, number>;
  /** Kind → count. */
  readonly kinds: Record<string, number>;
  readonly proxyRestarts: number;
  /** Upstream requests cut off mid-message (HPE_INVALID_EOF_STATE: the proxy aborted them as their client went away). */
  readonly upstreamAborted: number;
}

interface CaseResult {
  readonly c: HttpCase;
  readonly response: Buffer;
  readonly closedBy: 'server' | 'client';
  readonly hung: boolean;
  readonly ms: number;
  /** Set when the case ran over its whole budget (a harness-level timeout): the phase it was in. */
  readonly stuckIn?: string;
}

/** A case as written to a finding: the bytes (latin1 keeps them), and how they were sent. */
function caseInput(c: HttpCase): unknown {
  return {
    bytesLatin1: Buffer.concat(c.writes as Buffer[]).toString('latin1'),
    writes: c.writes.map((w) => w.length),
    delaysMs: c.delaysMs,
    close: c.close,
    tokens: c.tokens,
    hidden: c.hidden,
    notes: c.notes,
  };
}

class RecordingUpstream {
  readonly seen = new Map<string, { method: string; url: string; headers: string[]; completed: boolean }>();
  requests = 0;
  untagged = 0;
  readonly parseErrors: { code: string; raw: string }[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => this.handle(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
      if (err.code?.startsWith('HPE_')) this.parseErrors.push({ code: err.code, raw: (err.rawPacket ?? Buffer.alloc(0)).toString('latin1').slice(0, 4000) });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      socket.destroy();
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const tokens = new Set(tokensIn(req.url ?? ''));
    for (let i = 1; i < req.rawHeaders.length; i += 2) for (const t of tokensIn(req.rawHeaders[i]!)) tokens.add(t);
    if (tokens.size === 0) this.untagged++;
    const records = [...tokens].map((t) => {
      const record = this.seen.get(t) ?? { method: req.method ?? '', url: (req.url ?? '').slice(0, 300), headers: req.rawHeaders.slice(0, 40), completed: false };
      this.seen.set(t, record);
      return record;
    });
    req.on('error', () => {});
    req.resume();
    req.on('end', () => {
      for (const record of records) record.completed = true;
      if (res.destroyed) return;
      res.writeHead(200, { 'x-fuzz-echo': [...tokens].join(' ') || '-', 'content-type': 'text/plain' });
      res.end('ok');
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The proxy process, its access log parsed as it comes (tokens → response codes). */
class FuzzedProxy {
  child: ChildProcess | undefined;
  adminPort = 0;
  listenerPort = 0;
  readonly logged = new Map<string, number[]>();
  private stderrTail = '';
  private partial = '';
  exitCode: number | null | undefined;

  /** `statuses`: response classes counted across restarts. */
  constructor(
    private readonly upstreamPort: number,
    readonly statuses: Record<string, number>,
  ) {}

  async start(): Promise<void> {
    this.adminPort = await freePort();
    this.listenerPort = await freePort();
    const yaml = bootstrapYaml({
      adminPort: this.adminPort,
      listenerPort: this.listenerPort,
      virtualHosts: catchAllVirtualHost('up'),
      clusters: staticCluster('up', [{ port: this.upstreamPort }]),
      hcmExtra: [
        '          upgrade_configs: [{upgrade_type: websocket}]',
        '          access_log:',
        '          - name: envoy.access_loggers.stdout',
        '            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}',
      ].join('\n'),
    });
    const file = writeTempFile('bootstrap.yaml', yaml);
    this.exitCode = undefined;
    const child = spawn(process.execPath, [MESHLET_BIN, 'proxy', '--config', file, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onStdout(d));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (this.stderrTail = (this.stderrTail + d).slice(-20_000)));
    child.once('exit', (code, signal) => (this.exitCode = code ?? (signal ? -1 : null)));
    const deadline = Date.now() + 20_000;
    while (!(await this.ready())) {
      if (this.exitCode !== undefined) throw new Error(`meshlet exited with ${this.exitCode}: ${this.stderrTail}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`meshlet did not become ready: ${this.stderrTail}`);
      }
      await sleep(50);
    }
  }

  private onStdout(d: string): void {
    const text = this.partial + d;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('fz') && !line.includes('response_code')) continue;
      let entry: { path?: string; user_agent?: string; response_code?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      const code = entry.response_code ?? 0;
      this.statuses[code] = (this.statuses[code] ?? 0) + 1;
      for (const t of new Set([...tokensIn(String(entry.path ?? '')), ...tokensIn(String(entry.user_agent ?? ''))])) {
        const codes = this.logged.get(t) ?? [];
        codes.push(code);
        this.logged.set(t, codes);
      }
    }
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  stderr(): string {
    return this.stderrTail;
  }

  /** GET /ready on the admin port: true for 200. */
  ready(timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        req.destroy();
        resolve(false);
      }, timeoutMs + 500);
      const req = httpRequest({ host: '127.0.0.1', port: this.adminPort, path: '/ready', timeout: timeoutMs, agent: false }, (res) => {
        clearTimeout(timer);
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.exitCode !== undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The codes with which a proxy refuses a request as malformed or too big (499, the downstream
 * going away, is not one: the request may well have been forwarded by then).
 */
const REJECTIONS = new Set([400, 411, 413, 414, 431]);

/** A parse error the upstream reports when the proxy aborts a request mid-body (the client went away): expected. */
const BENIGN_UPSTREAM_ERRORS = new Set(['HPE_INVALID_EOF_STATE']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends one case on its own connection and waits for the connection to end. */
function runCase(c: HttpCase, port: number, closeTimeoutMs: number): Promise<CaseResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closedBy: 'server' | 'client' = 'server';
    let lastActivity = Date.now();
    let settled = false;
    let stuck = false;
    let phase = 'connecting';
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const timers: NodeJS.Timeout[] = [];
    // Whatever happens, the case ends: the writes' delays, 3 s of waiting for answers, the close timeout, and slack.
    const budgetMs = c.delaysMs.reduce((a, b) => a + b, 0) + 3000 + closeTimeoutMs + 5000;
    timers.push(
      setTimeout(() => {
        stuck = true;
        finish(true);
      }, budgetMs),
    );
    const finish = (hung: boolean) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      socket.destroy();
      resolve({ c, response: Buffer.concat(chunks), closedBy, hung, ms: Date.now() - started, ...(stuck ? { stuckIn: phase } : {}) });
    };
    socket.on('data', (d: Buffer) => {
      lastActivity = Date.now();
      if (chunks.reduce((n, b) => n + b.length, 0) < 1_000_000) chunks.push(d);
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(false));
    socket.on('end', () => {
      // The proxy half-closed: we are done sending anyway.
      lastActivity = Date.now();
    });
    const halfClose = () => {
      if (settled) return;
      phase = 'half-closed';
      socket.end();
      // From the FIN on, the proxy has closeTimeoutMs to finish its answers and close.
      timers.push(setTimeout(() => finish(true), closeTimeoutMs));
    };
    socket.once('connect', async () => {
      phase = 'writing';
      for (let i = 0; i < c.writes.length; i++) {
        if (c.delaysMs[i]! > 0) await sleep(c.delaysMs[i]!);
        if (settled || socket.destroyed || !socket.writable) break;
        socket.write(c.writes[i]!);
        lastActivity = Date.now();
      }
      if (settled) return;
      if (c.close === 'reset') {
        closedBy = 'client';
        finish(false);
        return;
      }
      if (c.close === 'fin-now') return halfClose();
      phase = 'waiting for answers';
      // Wait for the answers to stop coming (150 ms of quiet, 3 s at most), then half-close.
      const waitStarted = Date.now();
      const poll = () => {
        if (settled) return;
        if (Date.now() - lastActivity >= 150 || Date.now() - waitStarted > 3000) halfClose();
        else timers.push(setTimeout(poll, 50));
      };
      timers.push(setTimeout(poll, 50));
    });
  });
}

/** The offset where the first request's header block ends (`\n\r\n` or `\n\n`), or the length. */
function firstHeaderEnd(bytes: Buffer): number {
  const a = bytes.indexOf('\n\r\n');
  const b = bytes.indexOf('\n\n');
  const ends = [a, b].filter((x) => x >= 0);
  return ends.length > 0 ? Math.min(...ends) : bytes.length;
}

export async function runHttp1Fuzz(options: Http1RunOptions): Promise<Http1RunSummary> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const first = options.startIndex ?? 0;
  const end = first + options.maxCases;
  const concurrency = options.concurrency ?? 6;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  const keepPerKind = options.keepPerKind ?? 5;
  const kinds: Record<string, number> = {};
  let failures = 0;
  let warnings = 0;
  let batches = 0;
  let restarts = 0;
  let abortedUpstream = 0;
  let next = first;

  const report = (f: Finding) => {
    kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
    if (f.severity === 'failure') failures++;
    else warnings++;
    if (kinds[f.kind]! <= keepPerKind) options.onFinding(f);
  };

  const upstream = new RecordingUpstream();
  await upstream.start();
  const statuses: Record<string, number> = {};
  let proxy = new FuzzedProxy(upstream.port, statuses);
  await proxy.start();
  log(`http1 fuzz: proxy on ${proxy.listenerPort} (admin ${proxy.adminPort}), upstream on ${upstream.port}`);
  try {
    let lastProgress = Date.now();
    while (next < end && Date.now() < deadline) {
      if (Date.now() - lastProgress > 30_000) {
        lastProgress = Date.now();
        log(`http1 fuzz: ${next - first} cases, ${Math.round((Date.now() - started) / 1000)} s, upstream got ${upstream.requests}, findings ${JSON.stringify(kinds)}`);
      }
      const batch: HttpCase[] = [];
      for (let i = next; i < Math.min(end, next + concurrency); i++) batch.push(generateHttpCase(options.seed, i, proxy.listenerPort));
      if (process.env.FUZZ_DEBUG) log(`http1 fuzz: batch ${batch[0]!.index}..${batch.at(-1)!.index}`);
      next += batch.length;
      batches++;
      const parseErrorsBefore = upstream.parseErrors.length;
      const results = await Promise.all(batch.map((c) => runCase(c, proxy.listenerPort, closeTimeoutMs)));

      // Let the access log catch up with what the upstream saw (the log is written asynchronously).
      const batchTokens = (r: CaseResult) => [...r.c.tokens, ...r.c.hidden];
      const upstreamSaw = (t: string) => upstream.seen.has(t);
      const pending = () => results.flatMap(batchTokens).filter((t) => upstreamSaw(t) && !proxy.logged.has(t));
      for (let waited = 0; pending().length > 0 && waited < 2000; waited += 50) await sleep(50);

      if (!proxy.alive || !(await proxy.ready())) {
        const exit = proxy.exitCode;
        report({
          target: 'http1',
          severity: 'failure',
          kind: 'proxy-down',
          seed: options.seed,
          index: batch[0]!.index,
          message: exit !== undefined ? `the proxy exited (${exit}) during cases ${batch[0]!.index}..${batch.at(-1)!.index}` : `/ready did not answer 200 after cases ${batch[0]!.index}..${batch.at(-1)!.index}`,
          detail: proxy.stderr().slice(-8000),
          input: batch.map(caseInput),
        });
        await proxy.stop();
        proxy = new FuzzedProxy(upstream.port, statuses);
        await proxy.start();
        restarts++;
        continue;
      }

      for (const r of results) {
        const { c } = r;
        const input = () => ({ ...(caseInput(c) as object), responseLatin1: r.response.toString('latin1').slice(0, 4000) });
        for (const t of [...c.tokens, ...c.hidden]) {
          const up = upstream.seen.get(t);
          if (up === undefined) continue;
          const codes = proxy.logged.get(t);
          if (codes === undefined) {
            report({
              target: 'http1',
              severity: 'failure',
              kind: 'smuggling',
              seed: options.seed,
              index: c.index,
              message: `the upstream received ${up.method} ${up.url} (token ${t}${c.hidden.includes(t) ? ', hidden in a body' : ''}) but the proxy logged no such request`,
              detail: JSON.stringify(up),
              input: input(),
            });
          } else if (codes.some((code) => REJECTIONS.has(code))) {
            report({
              target: 'http1',
              severity: 'failure',
              kind: 'rejected-but-forwarded',
              seed: options.seed,
              index: c.index,
              message: `the proxy logged ${t} with ${codes.join(',')}, yet the upstream received it`,
              detail: JSON.stringify(up),
              input: input(),
            });
          }
        }
        if (r.hung) {
          report({
            target: 'http1',
            severity: 'failure',
            kind: 'connection-hang',
            seed: options.seed,
            index: c.index,
            message: r.stuckIn
              ? `the case did not end within its budget (stuck ${r.stuckIn}, ${r.ms} ms, ${r.response.length} response bytes)`
              : `the connection was still open ${closeTimeoutMs} ms after the client's FIN (case took ${r.ms} ms, ${r.response.length} response bytes)`,
            input: input(),
          });
        }
        // The client's own view: a 400 first, while the first request reached the upstream and its answer never came.
        const text = r.response.toString('latin1');
        const firstStatus = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
        const firstToken = c.tokens[0]!;
        const bytes = Buffer.concat(c.writes as Buffer[]);
        const tokenAt = bytes.indexOf(firstToken);
        if (firstStatus === '400' && upstream.seen.get(firstToken)?.completed === true && !text.includes(firstToken) && tokenAt >= 0 && tokenAt < firstHeaderEnd(bytes)) {
          report({
            target: 'http1',
            severity: 'warning',
            kind: 'client-400-but-forwarded',
            seed: options.seed,
            index: c.index,
            message: `the first response was 400, but the first request (${firstToken}) reached the upstream, complete, and its response never came`,
            input: input(),
          });
        }
      }
      for (const e of upstream.parseErrors.slice(parseErrorsBefore)) {
        if (BENIGN_UPSTREAM_ERRORS.has(e.code)) {
          abortedUpstream++;
          continue;
        }
        const owner = tokensIn(e.raw).map(tokenCase)[0];
        const c = batch.find((x) => x.index === owner);
        report({
          target: 'http1',
          severity: 'failure',
          kind: 'upstream-parse-error',
          seed: options.seed,
          index: c?.index ?? batch[0]!.index,
          message: `the upstream's parser rejected what the proxy sent (${e.code})`,
          detail: e.raw,
          input: c ? caseInput(c) : batch.map(caseInput),
        });
      }
      // Forget what this batch's tokens were: the maps would grow for hours otherwise.
      for (const r of results) for (const t of batchTokens(r)) {
        upstream.seen.delete(t);
        proxy.logged.delete(t);
      }
    }
    if (!(await proxy.ready())) {
      report({ target: 'http1', severity: 'failure', kind: 'proxy-down', seed: options.seed, index: next, message: '/ready did not answer 200 at the end of the run', detail: proxy.stderr().slice(-8000) });
    }
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
  return {
    seed: options.seed,
    firstIndex: first,
    nextIndex: next,
    cases: next - first,
    batches,
    failures,
    warnings,
    seconds: (Date.now() - started) / 1000,
    upstreamRequests: upstream.requests,
    upstreamUntagged: upstream.untagged,
    proxyStatuses: statuses,
    kinds,
    proxyRestarts: restarts,
    upstreamAborted: abortedUpstream,
  };
}
