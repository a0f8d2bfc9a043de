import { Agent, request as httpRequest, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HealthFlag } from './health-flags';

/**
 * Envoy's active health checking (HTTP and TCP) for one cluster. Each host has a session that
 * checks it over its own short-lived (or, with `reuse_connection`, its own keep-alive) connection —
 * never over the request pools' connections — and moves the host's FAILED_ACTIVE_HC flag by
 * Envoy's rules (HealthCheckerImplBase::ActiveHealthCheckSession):
 *
 * - As in Envoy, a check goes through the cluster's transport socket: with TLS, the connection is
 *   opened by the hooks' `connect` (the cluster's TLS connector: its client certificate, the
 *   upstream's certificate verified against the CA and SANs), so a host the cluster's requests
 *   could not reach over TLS fails its checks too (a network failure; the connector counts and
 *   logs the reason). Without `connect`, plain TCP.
 *
 * - A host added with health checking starts failed (FAILED_ACTIVE_HC + PENDING_ACTIVE_HC) and is
 *   checked at once; its **first** successful check makes it healthy, later it takes
 *   `healthy_threshold` successes in a row.
 * - A healthy host turns unhealthy after `unhealthy_threshold` failures in a row — except that an
 *   HTTP response whose status is neither expected nor retriable fails it at once, as in Envoy.
 *   Connection failures and timeouts are network failures and always take the threshold.
 * - The next check is scheduled when a check ends: `interval` (or `unhealthy_interval` after a
 *   failure, the `*_edge_interval` while a transition is pending), plus jitter; while the cluster
 *   has never had traffic, `no_traffic_interval` (default 60 s) / `no_traffic_healthy_interval`.
 *
 * The decision logic (checkTransition, nextCheckDelayMs) is pure; HealthChecker is the I/O.
 */

export interface HttpCheckConfig {
  readonly path: string;
  /** `host`: the Host header; the cluster name when empty, as in Envoy. */
  readonly host: string | undefined;
  readonly method: string;
  /** Half-open [start, end) ranges; Envoy's default is 200 only. */
  readonly expectedStatuses: readonly (readonly [number, number])[];
  readonly retriableStatuses: readonly (readonly [number, number])[];
  /** [name, value, append]: literal request headers to add (append: add another value; else overwrite). */
  readonly headersToAdd: readonly (readonly [string, string, boolean])[];
  readonly headersToRemove: readonly string[];
}

export interface TcpCheckConfig {
  /** Written on connect; undefined sends nothing. */
  readonly send: Buffer | undefined;
  /** Each block must be found in the response, in order (Envoy's fuzzy matching); empty = connect only. */
  readonly receive: readonly Buffer[];
}

/** One `health_checks[]` entry, with Envoy's defaults applied. */
export interface HealthCheckConfig {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly initialJitterMs: number;
  readonly intervalJitterMs: number;
  readonly intervalJitterPercent: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly reuseConnection: boolean;
  readonly noTrafficIntervalMs: number;
  readonly noTrafficHealthyIntervalMs: number;
  readonly unhealthyIntervalMs: number;
  readonly unhealthyEdgeIntervalMs: number;
  readonly healthyEdgeIntervalMs: number;
  readonly http: HttpCheckConfig | undefined;
  readonly tcp: TcpCheckConfig | undefined;
}

/**
 * How one check ended. `active_failure`: an HTTP status neither expected nor retriable (fails a
 * healthy host at once); `retriable_failure`: a `retriable_statuses` status (counts toward the
 * threshold); network failures and timeouts count toward the threshold too.
 */
export type CheckResult = 'success' | 'network_failure' | 'network_timeout' | 'active_failure' | 'retriable_failure';

/** Envoy's HealthTransition. */
export type HealthTransition = 'unchanged' | 'changed' | 'change_pending';

/** A session's view of its host: the host's HC flags plus the session's counters. */
export interface CheckState {
  /** FAILED_ACTIVE_HC */
  readonly failed: boolean;
  /** PENDING_ACTIVE_HC: no check has completed yet. */
  readonly pending: boolean;
  /** ACTIVE_HC_TIMEOUT */
  readonly timedOut: boolean;
  readonly firstCheck: boolean;
  readonly numHealthy: number;
  readonly numUnhealthy: number;
}

/** A host just added to a health-checked cluster. */
export const INITIAL_CHECK_STATE: CheckState = {
  failed: true,
  pending: true,
  timedOut: false,
  firstCheck: true,
  numHealthy: 0,
  numUnhealthy: 0,
};

/** The health-check state machine: Envoy's handleSuccess / setUnhealthy / clearPendingFlag. */
export function checkTransition(
  state: CheckState,
  result: CheckResult,
  thresholds: { readonly healthyThreshold: number; readonly unhealthyThreshold: number },
): { state: CheckState; transition: HealthTransition } {
  let { failed, timedOut, numHealthy, numUnhealthy } = state;
  let transition: HealthTransition = 'unchanged';
  if (result === 'success') {
    numUnhealthy = 0;
    if (failed) {
      if (state.firstCheck || ++numHealthy === thresholds.healthyThreshold) {
        failed = false;
        timedOut = false;
        transition = 'changed';
      } else {
        transition = 'change_pending';
      }
    }
  } else {
    numHealthy = 0;
    const network = result === 'network_failure' || result === 'network_timeout';
    if (!failed) {
      if ((!network && result !== 'retriable_failure') || ++numUnhealthy === thresholds.unhealthyThreshold) {
        failed = true;
        transition = 'changed';
      } else {
        transition = 'change_pending';
      }
    }
    timedOut = result === 'network_timeout' && failed;
  }
  // The first result always counts as a change: the host leaves PENDING_ACTIVE_HC.
  if (state.pending) transition = 'changed';
  return { state: { failed, pending: false, timedOut, firstCheck: false, numHealthy, numUnhealthy }, transition };
}

/** Envoy's HealthCheckerImplBase::interval + intervalWithJitter. `random` is uniform in [0, 1). */
export function nextCheckDelayMs(
  config: HealthCheckConfig,
  lastCheckHealthy: boolean,
  transition: HealthTransition,
  hasTraffic: boolean,
  random: () => number = Math.random,
): number {
  const pending = transition === 'change_pending';
  let base: number;
  if (hasTraffic) {
    if (!lastCheckHealthy) base = pending ? config.unhealthyEdgeIntervalMs : config.unhealthyIntervalMs;
    else base = pending ? config.healthyEdgeIntervalMs : config.intervalMs;
  } else {
    base = lastCheckHealthy && !pending ? config.noTrafficHealthyIntervalMs : config.noTrafficIntervalMs;
  }
  return withJitter(base, config.intervalJitterMs, config.intervalJitterPercent, random);
}

function withJitter(baseMs: number, jitterMs: number, jitterPercent: number, random: () => number): number {
  let ms = baseMs;
  const percentMod = Math.floor((jitterPercent * baseMs) / 100);
  if (percentMod > 0) ms += Math.floor(random() * percentMod);
  if (jitterMs > 0) ms += Math.floor(random() * jitterMs);
  // Never 0: no live lock.
  return Math.max(1, ms);
}

/** Whether `status` falls in one of the half-open ranges. */
export function statusInRanges(status: number, ranges: readonly (readonly [number, number])[]): boolean {
  for (const [start, end] of ranges) if (status >= start && status < end) return true;
  return false;
}

/** Envoy's TCP "fuzzy" match: every block found, in order, not necessarily contiguous. */
export function receiveMatches(buffer: Buffer, blocks: readonly Buffer[]): boolean {
  let from = 0;
  for (const block of blocks) {
    const at = buffer.indexOf(block, from);
    if (at < 0) return false;
    from = at + block.length;
  }
  return true;
}

/** What a health-checked host looks like to the checker. */
export interface CheckedHost {
  readonly key: string;
  readonly endpoint: { readonly address: string; readonly port: number };
  healthFlags: number;
}

export interface HealthCheckerHooks<H extends CheckedHost> {
  /** Whether the cluster ever had traffic (Envoy: upstream_cx_total used); before that, no_traffic_interval applies. */
  hasTraffic(): boolean;
  /** A check ended and the host's flags are updated; `transition` says whether its health changed. */
  onResult(host: H, result: CheckResult, transition: HealthTransition): void;
  /** A check is sent (`health_check.attempt`). */
  onAttempt(): void;
  /**
   * Opens a check's connection through the cluster's transport socket (TLS): calls back with the
   * socket once it is usable (handshake done, peer verified) or with the error. Absent: plain TCP.
   */
  connect?(host: H, callback: (err: Error | null, socket: Socket | null) => void): void;
}

/** One host's checks. */
class Session<H extends CheckedHost> {
  state: CheckState;
  private timer: NodeJS.Timeout | undefined;
  private abortCheck: (() => void) | undefined;
  private agent: Agent | undefined;
  private stopped = false;
  private firstDone!: () => void;
  readonly firstCheck: Promise<void>;

  constructor(
    private readonly checker: HealthChecker<H>,
    readonly host: H,
  ) {
    this.state = INITIAL_CHECK_STATE;
    host.healthFlags |= HealthFlag.FAILED_ACTIVE_HC | HealthFlag.PENDING_ACTIVE_HC;
    this.firstCheck = new Promise((resolve) => (this.firstDone = resolve));
  }

  start(): void {
    const jitter = this.checker.config.initialJitterMs;
    this.schedule(jitter > 0 ? withJitter(0, jitter, 0, this.checker.random) : 0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.abortCheck?.();
    this.agent?.destroy();
    this.firstDone();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.check(), delayMs);
    this.timer.unref();
  }

  private check(): void {
    const { config } = this.checker;
    this.checker.hooks.onAttempt();
    let finished = false;
    const done = (result: CheckResult): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timeout);
      this.abortCheck = undefined;
      if (!this.stopped) this.completed(result);
    };
    const timeout = setTimeout(() => {
      this.abortCheck?.();
      done('network_timeout');
    }, config.timeoutMs);
    timeout.unref();
    if (config.http !== undefined) this.abortCheck = this.httpCheck(config.http, done);
    else this.abortCheck = this.tcpCheck(config.tcp!, done);
  }

  private completed(result: CheckResult): void {
    const { config, hooks } = this.checker;
    const { state, transition } = checkTransition(this.state, result, config);
    this.state = state;
    const host = this.host;
    let flags = host.healthFlags & ~(HealthFlag.FAILED_ACTIVE_HC | HealthFlag.PENDING_ACTIVE_HC | HealthFlag.ACTIVE_HC_TIMEOUT);
    if (state.failed) flags |= HealthFlag.FAILED_ACTIVE_HC;
    if (state.timedOut) flags |= HealthFlag.ACTIVE_HC_TIMEOUT;
    host.healthFlags = flags;
    hooks.onResult(host, result, transition);
    this.firstDone();
    this.schedule(nextCheckDelayMs(config, result === 'success', transition, hooks.hasTraffic(), this.checker.random));
  }

  private httpCheck(http: HttpCheckConfig, done: (result: CheckResult) => void): () => void {
    const { endpoint } = this.host;
    const headers: Record<string, string | string[]> = {
      host: http.host || this.checker.clusterName,
      'user-agent': 'Envoy/HC',
    };
    for (const [name, value, append] of http.headersToAdd) {
      const key = name.toLowerCase();
      const existing = headers[key];
      headers[key] = append && existing !== undefined ? [...(Array.isArray(existing) ? existing : [existing]), value] : value;
    }
    for (const name of http.headersToRemove) delete headers[name.toLowerCase()];
    const createConnection = this.transportConnection();
    if (this.checker.config.reuseConnection && this.agent === undefined) {
      this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
      // The agent opens its connection as the request would (it ignores the request's createConnection).
      if (createConnection !== undefined) this.agent.createConnection = createConnection;
    }
    let req: ClientRequest;
    try {
      req = httpRequest({
        host: endpoint.address,
        port: endpoint.port,
        method: http.method,
        path: http.path,
        headers,
        // Its own connection: never one of the request pools'. (Node uses createConnection only
        // without an agent: `agent: false` would make a fresh plain one.)
        agent: this.agent ?? (createConnection === undefined ? false : undefined),
        createConnection,
      });
    } catch {
      done('network_failure');
      return () => {};
    }
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', () => done('network_failure'));
      res.on('aborted', () => done('network_failure'));
      res.on('end', () => {
        if (statusInRanges(status, http.expectedStatuses)) done('success');
        else done(statusInRanges(status, http.retriableStatuses) ? 'retriable_failure' : 'active_failure');
      });
      res.resume();
    });
    req.on('error', () => done('network_failure'));
    req.end();
    return () => req.destroy();
  }

  /**
   * With the cluster's transport socket: node's http `createConnection`, opening the connection
   * through it (asynchronously: the socket is handed over once the TLS peer is verified).
   */
  private transportConnection(): ((options: unknown, oncreate: (err: Error | null, socket: Duplex) => void) => undefined) | undefined {
    const connectHook = this.checker.hooks.connect;
    if (connectHook === undefined) return undefined;
    return (_options, oncreate) => {
      connectHook.call(this.checker.hooks, this.host, (err, socket) => {
        if (err !== null || socket === null) oncreate(err ?? new Error('no connection'), undefined as unknown as Duplex);
        else oncreate(null, socket);
      });
      return undefined;
    };
  }

  private tcpCheck(tcp: TcpCheckConfig, done: (result: CheckResult) => void): () => void {
    const { endpoint } = this.host;
    let socket: Socket | undefined;
    let aborted = false;
    let received = Buffer.alloc(0);
    const succeed = (): void => {
      done('success');
      socket?.destroy();
    };
    const connected = (): void => {
      if (tcp.send !== undefined) socket!.write(tcp.send);
      if (tcp.receive.length === 0) succeed();
    };
    const listen = (s: Socket): void => {
      socket = s;
      s.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (receiveMatches(received, tcp.receive)) succeed();
        // Bounded: a peer streaming garbage cannot grow this past 64 KiB.
        else if (received.length > 64 * 1024) received = received.subarray(received.length - 64 * 1024);
      });
      s.on('error', () => done('network_failure'));
      s.on('close', () => done('network_failure'));
    };
    const connectHook = this.checker.hooks.connect;
    if (connectHook === undefined) {
      listen(connect({ host: endpoint.address, port: endpoint.port }));
      socket!.on('connect', connected);
    } else {
      // Through the transport socket: the payload goes over TLS once the peer is verified.
      connectHook.call(this.checker.hooks, this.host, (err, s) => {
        if (err !== null || s === null) return done('network_failure');
        if (aborted) return void s.destroy();
        listen(s);
        connected();
      });
    }
    return () => {
      aborted = true;
      socket?.destroy();
    };
  }
}

/** A cluster's health checks: one session per host, following the host set. */
export class HealthChecker<H extends CheckedHost> {
  private readonly sessions = new Map<H, Session<H>>();
  private stopped = false;

  constructor(
    readonly config: HealthCheckConfig,
    readonly clusterName: string,
    readonly hooks: HealthCheckerHooks<H>,
    readonly random: () => number = Math.random,
  ) {}

  /** New hosts start failed and are checked at once; removed hosts stop being checked. */
  setHosts(hosts: Iterable<H>): void {
    if (this.stopped) return;
    const next = new Set(hosts);
    for (const [host, session] of this.sessions) {
      if (next.has(host)) continue;
      session.stop();
      this.sessions.delete(host);
    }
    for (const host of next) {
      if (this.sessions.has(host)) continue;
      const session = new Session(this, host);
      this.sessions.set(host, session);
      session.start();
    }
  }

  /** Resolves when every current host has had its first check (Envoy's cluster initialization waits for this). */
  firstRound(): Promise<void> {
    return Promise.all([...this.sessions.values()].map((s) => s.firstCheck)).then(() => undefined);
  }

  /** Hosts currently passing (`health_check.healthy`). */
  healthyCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (!s.state.failed) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const session of this.sessions.values()) session.stop();
    this.sessions.clear();
  }
}
