import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { PickContext } from '../balancer/host';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/upstream-host';
import { copyEndToEnd } from '../listener/hop-by-hop';
import type { HttpConnectionManager } from '../listener/http-connection-manager';
import { ResponseFlag, withFlag } from '../listener/response-flags';
import type { StreamInfo } from '../listener/stream-info';
import { armStreamIdleTimeout, streamIdleTimeoutMs, type IdleStream } from '../listener/stream-idle-timeout';
import { toDownstreamResponseHeaders } from '../listener/request-routing';
import { firstHeaderValue, removeHeader, setHeader } from '../router/flat-headers';
import {
  decideRetry,
  DEFAULT_RETRY_POLICY,
  isKeepAliveRace,
  RetryState,
  selectRetryHost,
  type AttemptEnd,
  type RetryPolicy,
  type RetryRequestHeaders,
} from '../router/retry-policy';
import type { ClusterChoice, HeaderContext } from '../router/route-table';
import { isGrpcRequest } from '../listener/grpc-local-reply';
import { requestTimeoutMs } from '../router/grpc-timeout';
import { AttemptHandler, type AttemptSink, type UpstreamTrailers } from './attempt-handler';
import { onNewConnection } from './connections';
import {
  CONNECT_FAILURE,
  CONNECT_FAILURE_END,
  PER_TRY_TIMEOUT_END,
  RESET,
  RESET_BEFORE_REQUEST_END,
  RESET_END,
  responseOutcome,
  TCP_CONNECT_ERRORS,
  TIMEOUT,
} from './outcomes';
import { TLS_CONNECT_ERROR } from './tls-connector';
import { exceedsLimit, ReplayableBody } from './request-body';

/** The request's HeaderContext, whose upstream fields follow the host of the current attempt. */
export type UpstreamContext = HeaderContext & { upstreamRemoteAddress: string | undefined; upstreamRemotePort: number | undefined };

/** Error codes of a connection that could not be opened, TCP or TLS (the rest, after onConnect, are resets). */
const CONNECT_ERRORS: ReadonlySet<string | undefined> = new Set([...TCP_CONNECT_ERRORS, TLS_CONNECT_ERROR]);

/** A retried response's body is read and dropped (keeping its connection) when this small; a larger one is reset. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

/**
 * One downstream request sent upstream, streamed both ways: it is undici's dispatch handler
 * of its first attempt, so response bytes go from the upstream socket to the downstream
 * response with backpressure and no intermediate stream objects.
 *
 * Envoy's router, for one request: circuit breakers (a request slot for the whole request, a
 * retry slot per retry), the route timeout over all attempts, and — when the route has a retry
 * policy — per-try timeouts, the retry decision (proxy/router/retry-policy.ts, pure) and the
 * backoff between attempts, each retry on a host picked anew (previous_hosts: failover). An
 * attempt's response goes downstream only once it is accepted (not retried); from then on
 * the request cannot be retried. Without a retry policy none of that state exists: the
 * request costs what it did before retries (no buffering, no extra objects).
 *
 * S_grid runs, per attempt, from the moment undici writes the request on an upstream
 * connection (`onConnect`) until the upstream response is complete, fails, or is given up on;
 * connection set-up, pool queueing and the wait between attempts count as proxy overhead.
 */
export class UpstreamRequest implements Dispatcher.DispatchHandler, AttemptSink, IdleStream {
  // The current attempt.
  /** 0 for the first attempt (this object is its handler); each retry gets the next id and an AttemptHandler. */
  private attempt = 0;
  private attemptLive = false;
  private abortUpstream: ((reason?: Error) => void) | undefined = undefined;
  private attemptStartMs = 0;
  private reusedConnection = false;
  private perTryTimer: NodeJS.Timeout | undefined = undefined;

  // The request.
  private timer: NodeJS.Timeout | undefined = undefined;
  /** max_stream_duration (route's, else the listener's), counted from the request's arrival. */
  private durationTimer: NodeJS.Timeout | undefined = undefined;
  private done = false;
  /** Response headers went downstream: nothing can be retried any more. */
  private responseStarted = false;
  private resumeUpstream: (() => void) | undefined = undefined;
  private holdsRequestSlot = false;
  private method = '';
  private path = '';
  private headers: string[] = [];
  private body: IncomingMessage | Buffer | ReplayableBody | null = null;
  private bodyComplete = true;
  private keepAliveResent = false;
  /** HTTP/2 upstream: the cluster's explicit protocol, or the downstream's. */
  private http2 = false;
  /** The route timeout, or the client's grpc-timeout where the route says so; 0: none. */
  private timeoutMs = 0;
  /** A gRPC request: its responses' grpc-status is counted. */
  private grpc = false;
  /** The status of a trailers-only gRPC response, sent downstream as trailers. */
  private trailersOnly: Record<string, string> | undefined = undefined;

  // Retries: set only when the route (or an internal client's header) enables them.
  private retry: RetryState | undefined = undefined;
  private policy: RetryPolicy | undefined = undefined;
  private attempted: UpstreamHost[] | undefined = undefined;
  private backoffTimer: NodeJS.Timeout | undefined = undefined;
  private holdsRetrySlot = false;

  constructor(
    private readonly hcm: HttpConnectionManager,
    private readonly info: StreamInfo,
    private readonly cluster: Cluster,
    private host: UpstreamHost,
    private readonly choice: ClusterChoice,
    /** Present when the route's header mutations need it (MatchedRoute.usesContext). */
    private readonly context: UpstreamContext | undefined,
    /** The balancer input (hash) of the first pick, reused for retries' picks. */
    private readonly pickContext: PickContext | undefined,
  ) {}

  /**
   * `retryHeaders`: x-envoy-retry-on and friends from an internal client (already removed from
   * `headers`); undefined otherwise.
   */
  /** `body`: the downstream request streaming, or already read whole (the buffer filter), or none. */
  send(method: string, path: string, headers: string[], body: IncomingMessage | Buffer | null, retryHeaders: RetryRequestHeaders | undefined): void {
    const info = this.info;
    if (!this.cluster.breakers.tryAcquireRequest(this.host)) {
      this.cluster.stats.rqPendingOverflow.value++;
      return this.hcm.localReply(info, 503, ResponseFlag.UpstreamOverflow, 'upstream overflow: circuit breaker max_requests reached\n');
    }
    this.holdsRequestSlot = true;
    const protocol = this.cluster.config.upstreamProtocol;
    this.http2 = protocol === 'http2' || (protocol === 'downstream' && info.req.httpVersion === '2.0');
    const route = info.route!;
    this.grpc = isGrpcRequest(firstHeaderValue(headers, 'content-type'));
    this.timeoutMs = requestTimeoutMs(route.timeoutMs, route.grpcTimeoutHeaderMaxMs, route.grpcTimeoutHeaderOffsetMs, route.grpcTimeoutHeaderMaxMs === undefined ? undefined : firstHeaderValue(headers, 'grpc-timeout'));
    this.method = method;
    this.path = path;
    this.headers = headers;
    // A module-level listener finds this request through the response: no closure per request.
    (info.res as ResponseWithUpstream)[kUpstreamRequest] = this;
    info.res.on('close', onDownstreamClose);
    // No bytes either way (request body, response) for that long ends the request: streamIdleTimedOut.
    armStreamIdleTimeout(info.res, streamIdleTimeoutMs(this.hcm.config, route), this);
    const maxDurationMs = route.maxStreamDurationMs || this.hcm.config.maxStreamDurationMs;
    if (maxDurationMs > 0) {
      const left = Math.max(0, maxDurationMs - (performance.now() - info.startMs));
      this.durationTimer = setTimeout(onStreamDuration, left, this, route.maxStreamDurationMs > 0);
    }
    this.start(route.retry !== undefined || retryHeaders !== undefined ? this.setUpRetries(route.retry ?? DEFAULT_RETRY_POLICY, retryHeaders, body) : body);
  }

  /**
   * Creates the retry state. A body is kept for replay while it streams (ReplayableBody), up to
   * per_request_buffer_limit_bytes; a larger one is not retried.
   */
  private setUpRetries(policy: RetryPolicy, retryHeaders: RetryRequestHeaders | undefined, body: IncomingMessage | Buffer | null): IncomingMessage | Buffer | ReplayableBody | null {
    const limit = this.info.route!.perRequestBufferLimitBytes;
    const tooLarge = body !== null && !Buffer.isBuffer(body) && exceedsLimit(firstHeaderValue(this.headers, 'content-length'), limit);
    const state = new RetryState(policy, retryHeaders, !tooLarge);
    // Nothing to retry on and no per-try timeout: the plain path.
    if (!state.enabled && policy.perTryTimeoutMs === 0) return body;
    this.retry = state;
    this.policy = policy;
    this.attempted = [];
    // A body read whole is replayed as it is.
    if (body === null || Buffer.isBuffer(body) || !state.enabled) return body;
    const overflow = () => {
      state.replayable = false;
      this.info.retryNotPossible = `request body larger than per_request_buffer_limit_bytes (${limit})`;
    };
    if (tooLarge) {
      overflow();
      return body;
    }
    return new ReplayableBody(body, limit, overflow);
  }

  private start(body: IncomingMessage | Buffer | ReplayableBody | null): void {
    this.body = body;
    const timeoutMs = this.timeoutMs;
    const source = body instanceof ReplayableBody ? body.source : body;
    // Envoy's route timeout starts once the downstream request is complete, and spans every attempt.
    if (source === null || Buffer.isBuffer(source) || source.complete) {
      if (timeoutMs > 0) this.timer = setTimeout(onRouteTimeout, timeoutMs, this);
    } else {
      this.bodyComplete = false;
      source.once('end', () => this.downstreamBodyEnded());
    }
    this.dispatchAttempt(this.host, this, false);
  }

  private downstreamBodyEnded(): void {
    this.bodyComplete = true;
    const timeoutMs = this.timeoutMs;
    if (timeoutMs > 0 && !this.done) this.timer ??= setTimeout(onRouteTimeout, timeoutMs, this);
    if (this.abortUpstream !== undefined && this.attemptLive) this.startPerTryTimer();
  }

  private dispatchAttempt(host: UpstreamHost, handler: Dispatcher.DispatchHandler, newConnection: boolean): void {
    this.attemptLive = true;
    this.abortUpstream = undefined;
    this.attemptStartMs = 0;
    host.activeRequests++;
    this.cluster.stats.rqTotal.value++;
    this.info.attempts++;
    this.attempted?.push(host);
    const body = this.body instanceof ReplayableBody ? this.body.attemptStream() : this.body;
    const options = { path: this.path, method: this.method, headers: this.headers, body };
    if (newConnection) host.dispatchOnNewConnection(this.http2, options, handler);
    else host.pool(this.http2).dispatch(options, handler);
  }

  // undici's handler of the first attempt.

  onConnect(abort: (reason?: Error) => void): void {
    this.attemptConnected(0, abort);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    return this.attemptHeaders(0, statusCode, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    return this.attemptData(0, chunk);
  }

  onComplete(trailers: UpstreamTrailers): void {
    this.attemptComplete(0, trailers);
  }

  onError(err: Error): void {
    this.attemptFailed(0, err);
  }

  // Every attempt's callbacks, by attempt id.

  attemptConnected(id: number, abort: (reason?: Error) => void): void {
    if (id !== this.attempt || this.done) {
      // Given up on while it waited for a connection (timeout, downstream gone): don't send it.
      abort(new Error('request abandoned'));
      return;
    }
    this.abortUpstream = abort;
    this.attemptStartMs = performance.now();
    this.reusedConnection = !onNewConnection();
    if (this.policy !== undefined && this.bodyComplete) this.startPerTryTimer();
  }

  attemptHeaders(id: number, statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // A response being drained after a retry was decided, or one that came too late: read and drop it.
    if (id !== this.attempt || this.done) return true;
    const info = this.info;
    const cluster = this.cluster;
    cluster.stats.response(statusCode);
    cluster.reportOutcome(this.host, responseOutcome(statusCode));
    const headers: string[] = [];
    copyEndToEnd(rawHeaders, headers);
    if (this.grpc) {
      const grpcStatus = firstHeaderValue(headers, 'grpc-status');
      if (grpcStatus !== undefined) cluster.stats.grpcStatus(grpcStatus);
    }
    if (this.retry !== undefined) {
      this.releaseRetrySlot();
      const decision = decideRetry(this.policy!, this.retry, { kind: 'response', status: statusCode, headers }, Math.random());
      if (decision.retry) {
        const abort = this.abortUpstream;
        if (this.retryAfter(decision.delayMs)) return this.dropResponse(statusCode, headers, abort);
        info.responseFlag = ResponseFlag.UpstreamOverflow;
      } else if (decision.reason === 'retry_limit_exceeded') {
        cluster.stats.rqRetryLimitExceeded.value++;
        info.responseFlag = ResponseFlag.UpstreamRetryLimitExceeded;
      } else if (this.retry.retriesSent > 0) {
        cluster.stats.rqRetrySuccess.value++;
      }
    }
    // Accepted: this response goes downstream.
    this.responseStarted = true;
    if (this.perTryTimer !== undefined) clearTimeout(this.perTryTimer);
    toDownstreamResponseHeaders(this.hcm, info, this.context, this.choice, headers, performance.now() - this.attemptStartMs);
    info.status = statusCode;
    this.resumeUpstream = resume;
    if (this.grpc) this.trailersOnly = takeGrpcStatus(headers);
    info.res.writeHead(statusCode, headers);
    return true;
  }

  attemptData(id: number, chunk: Buffer): boolean {
    if (id !== this.attempt || this.done) return true;
    this.info.bytesSent += chunk.length;
    const flushed = this.info.res.write(chunk);
    if (!flushed) this.info.res.once('drain', this.resumeUpstream!);
    return flushed;
  }

  attemptComplete(id: number, trailers: UpstreamTrailers): void {
    if (id !== this.attempt || this.done) return;
    this.endAttempt();
    this.finishRequest();
    // gRPC's status travels in trailers: they go downstream as they came (HTTP/2, or chunked HTTP/1.1).
    // A trailers-only gRPC response's status goes downstream as trailers (see takeGrpcStatus).
    if (this.trailersOnly !== undefined) this.info.res.addTrailers(this.trailersOnly);
    if (trailers != null) {
      const forwarded = trailerObject(trailers);
      if (forwarded !== undefined) {
        if (this.grpc && forwarded['grpc-status'] !== undefined) this.cluster.stats.grpcStatus(forwarded['grpc-status']);
        this.info.res.addTrailers(forwarded);
      }
    }
    this.info.res.end();
    this.hcm.finish(this.info);
  }

  attemptFailed(id: number, err: Error): void {
    if (id !== this.attempt || this.done) return;
    const connected = this.abortUpstream !== undefined;
    this.endAttempt();
    const stats = this.cluster.stats;
    const connectFailure = !connected || CONNECT_ERRORS.has((err as NodeJS.ErrnoException).code);
    if (connectFailure) {
      stats.cxConnectFail.value++;
      this.cluster.reportOutcome(this.host, CONNECT_FAILURE);
    } else {
      stats.rqReset.value++;
      this.cluster.reportOutcome(this.host, RESET);
    }
    let extra: ResponseFlag | undefined;
    if (!this.responseStarted) {
      const end: AttemptEnd = connectFailure ? CONNECT_FAILURE_END : connected ? RESET_END : RESET_BEFORE_REQUEST_END;
      // The stale keep-alive connection first: the upstream never saw the request, so it is
      // sent again as it was (not a retry of the policy's, and counted as none).
      if (isKeepAliveRace(end, this.method, this.body !== null, this.reusedConnection, this.keepAliveResent)) {
        this.keepAliveResent = true;
        this.attempt++;
        this.backoffTimer = setTimeout(onBackoffEnd, 0, this, true);
        return;
      }
      if (this.retry !== undefined) {
        this.releaseRetrySlot();
        const decision = decideRetry(this.policy!, this.retry, end, Math.random());
        if (decision.retry) {
          if (this.retryAfter(decision.delayMs)) return;
          extra = ResponseFlag.UpstreamOverflow;
        } else if (decision.reason === 'retry_limit_exceeded') {
          stats.rqRetryLimitExceeded.value++;
          extra = ResponseFlag.UpstreamRetryLimitExceeded;
        }
      }
    }
    this.finishRequest();
    // After response headers went downstream, localReply resets the downstream instead.
    if (connectFailure) {
      this.hcm.localReply(this.info, 503, withFlag(ResponseFlag.UpstreamConnectionFailure, extra), `upstream connect error: ${err.message}\n`);
    } else {
      this.hcm.localReply(this.info, 502, withFlag(ResponseFlag.UpstreamConnectionTermination, extra), `upstream reset: ${err.message}\n`);
    }
  }

  /** The per-try timeout fired before the attempt's response was accepted. */
  perTryTimedOut(id: number): void {
    if (id !== this.attempt || this.done || this.responseStarted) return;
    this.perTryTimer = undefined;
    const stats = this.cluster.stats;
    stats.rqPerTryTimeout.value++;
    this.cluster.reportOutcome(this.host, TIMEOUT);
    this.releaseRetrySlot();
    const abort = this.abortUpstream;
    const decision = decideRetry(this.policy!, this.retry!, PER_TRY_TIMEOUT_END, Math.random());
    let extra: ResponseFlag | undefined;
    if (decision.retry) {
      if (this.retryAfter(decision.delayMs)) {
        abort?.(new Error('per-try timeout'));
        return;
      }
      extra = ResponseFlag.UpstreamOverflow;
    } else if (decision.reason === 'retry_limit_exceeded') {
      stats.rqRetryLimitExceeded.value++;
      extra = ResponseFlag.UpstreamRetryLimitExceeded;
    }
    this.endAttempt();
    this.attempt++;
    this.finishRequest();
    abort?.(new Error('per-try timeout'));
    this.hcm.localReply(this.info, 504, withFlag(ResponseFlag.UpstreamRequestTimeout, extra), 'upstream request timeout (per try)\n');
  }

  /**
   * max_stream_duration passed: as Envoy, 408 when no response has started (flag UMSDR for the
   * route's limit, DT for the listener's), else the stream is reset.
   */
  durationExceeded(routeLevel: boolean): void {
    if (this.done) return;
    this.abandon('max stream duration');
    const flag = routeLevel ? ResponseFlag.UpstreamMaxStreamDurationReached : ResponseFlag.DurationTimeout;
    this.hcm.localReply(this.info, 408, flag, routeLevel ? 'upstream max stream duration reached\n' : 'downstream duration timeout\n');
  }

  /** The route timeout fired before the response completed (during an attempt or between two). */
  timedOut(): void {
    if (this.done) return;
    if (this.attemptLive && !this.responseStarted) this.cluster.reportOutcome(this.host, TIMEOUT);
    this.abandon('route timeout');
    this.cluster.stats.rqTimeout.value++;
    this.hcm.localReply(this.info, 504, ResponseFlag.UpstreamRequestTimeout, 'upstream request timeout\n');
  }

  /**
   * stream_idle_timeout: no bytes either way for the stream's idle timeout (armed in send). Not the
   * upstream's failure (no outcome reported): the attempt is aborted and the connection manager
   * answers 408, or resets the downstream once the response has started.
   */
  streamIdleTimedOut(): void {
    if (this.done) return;
    this.abandon('stream idle timeout');
    this.hcm.streamIdleTimedOut(this.info);
  }

  downstreamClosed(): void {
    if (this.done) return;
    // The client went away mid-request: stop the upstream work it was waiting for.
    this.abandon('downstream closed');
    this.info.responseFlag = ResponseFlag.DownstreamConnectionTermination;
    if (this.info.status === 0) this.info.status = 499;
    this.hcm.finish(this.info);
  }

  /**
   * Gives up on the request: ends the current attempt (host count, S_grid), releases its slots and
   * timers, then aborts the attempt in flight (undici closes its connection; its late callbacks are
   * ignored, the attempt id having moved on). The caller answers downstream.
   */
  private abandon(reason: string): void {
    const abort = this.attemptLive ? this.abortUpstream : undefined;
    this.endAttempt();
    this.attempt++;
    this.finishRequest();
    abort?.(new Error(reason));
  }

  /** The backoff is over: send the next attempt (a keep-alive resend goes to the same host on a new connection). */
  sendRetry(newConnection: boolean): void {
    this.backoffTimer = undefined;
    if (this.done) return;
    let host = this.host;
    if (!newConnection) {
      const policy = this.policy!;
      const pick = (): UpstreamHost | undefined => this.cluster.pick(this.pickContext);
      const next = policy.avoidPreviousHosts ? selectRetryHost(pick, this.attempted!, policy.hostSelectionMaxAttempts) : pick();
      if (next === undefined) {
        this.cluster.stats.noneHealthy.value++;
        this.finishRequest();
        return this.hcm.localReply(this.info, 503, ResponseFlag.NoHealthyUpstream, 'no healthy upstream\n');
      }
      if (next !== host) this.retarget((host = next));
    }
    this.dispatchAttempt(host, new AttemptHandler(this, this.attempt), newConnection);
  }

  /** The next attempt goes to `host`: what the request and its context say about the upstream follows. */
  private retarget(host: UpstreamHost): void {
    this.host = host;
    this.info.upstreamHost = host;
    if (this.info.route!.autoHostRewrite) setHeader(this.headers, 'host', host.key);
    if (this.context !== undefined) {
      this.context.upstreamRemoteAddress = host.endpoint.address;
      this.context.upstreamRemotePort = host.endpoint.port;
    }
  }

  /**
   * A retry was decided: take a retry slot from the circuit breaker (false: refused, no retry),
   * end the current attempt and wait out the backoff. The attempt's id moves on first, so its
   * later callbacks (and those an abort triggers) are ignored.
   */
  private retryAfter(delayMs: number): boolean {
    const stats = this.cluster.stats;
    if (!this.cluster.breakers.tryAcquireRetry()) {
      stats.rqRetryOverflow.value++;
      return false;
    }
    this.holdsRetrySlot = true;
    stats.rqRetry.value++;
    this.retry!.consume();
    this.endAttempt();
    this.attempt++;
    this.backoffTimer = setTimeout(onBackoffEnd, delayMs, this, false);
    return true;
  }

  /**
   * Discards a retried response: a small body of known length is read and dropped so its
   * connection goes back to the pool; anything else is reset (undici closes the connection).
   */
  private dropResponse(statusCode: number, headers: readonly string[], abort: ((reason?: Error) => void) | undefined): boolean {
    const length = firstHeaderValue(headers, 'content-length');
    const drain = statusCode === 204 || statusCode === 304 || this.method === 'HEAD' || (length !== undefined && Number(length) <= DRAIN_LIMIT_BYTES);
    if (drain) return true;
    abort?.(new Error('response retried'));
    return false;
  }

  private startPerTryTimer(): void {
    const ms = this.policy?.perTryTimeoutMs ?? 0;
    if (ms > 0 && this.perTryTimer === undefined && !this.responseStarted) this.perTryTimer = setTimeout(onPerTryTimeout, ms, this, this.attempt);
  }

  /** Ends the current attempt (idempotent): accounts S_grid, releases the host's active count and the per-try timer. */
  private endAttempt(): void {
    if (!this.attemptLive) return;
    this.attemptLive = false;
    if (this.attemptStartMs > 0) this.info.gridMs += performance.now() - this.attemptStartMs;
    this.host.activeRequests--;
    if (this.perTryTimer !== undefined) {
      clearTimeout(this.perTryTimer);
      this.perTryTimer = undefined;
    }
  }

  private releaseRetrySlot(): void {
    if (!this.holdsRetrySlot) return;
    this.holdsRetrySlot = false;
    this.cluster.breakers.releaseRetry();
  }

  /** Ends the request (idempotent): timers stop, circuit breaker slots are released exactly once. */
  private finishRequest(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.durationTimer !== undefined) clearTimeout(this.durationTimer);
    if (this.backoffTimer !== undefined) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    this.releaseRetrySlot();
    if (this.holdsRequestSlot) {
      this.holdsRequestSlot = false;
      this.cluster.breakers.releaseRequest();
    }
  }
}

const kUpstreamRequest = Symbol('meshlet.upstreamRequest');
type ResponseWithUpstream = ServerResponse & { [kUpstreamRequest]?: UpstreamRequest };

function onDownstreamClose(this: ResponseWithUpstream): void {
  this[kUpstreamRequest]!.downstreamClosed();
}

function onStreamDuration(request: UpstreamRequest, routeLevel: boolean): void {
  request.durationExceeded(routeLevel);
}

function onRouteTimeout(request: UpstreamRequest): void {
  request.timedOut();
}

function onPerTryTimeout(request: UpstreamRequest, attempt: number): void {
  request.perTryTimedOut(attempt);
}

function onBackoffEnd(request: UpstreamRequest, newConnection: boolean): void {
  request.sendRetry(newConnection);
}

/** Trailers as node's addTrailers takes them (lowercase names, no pseudo-headers); undefined when there are none. */
function trailerObject(trailers: NonNullable<UpstreamTrailers>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  const add = (name: string, value: string) => {
    if (name.charCodeAt(0) === 58 /* ':' */) return;
    out ??= {};
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  };
  if (Array.isArray(trailers)) {
    for (let i = 0; i < trailers.length; i += 2) add(String(trailers[i]).toLowerCase(), String(trailers[i + 1]));
  } else {
    for (const [name, value] of Object.entries(trailers)) {
      if (value !== undefined) add(name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
    }
  }
  return out;
}

/**
 * Moves grpc-status and grpc-message out of a (trailers-only) gRPC response's headers, for them
 * to be sent as trailers: node's response API cannot end an HTTP/2 stream with its headers, and
 * a gRPC client takes a status only from trailers or from headers that end the stream.
 */
function takeGrpcStatus(headers: string[]): Record<string, string> | undefined {
  const status = firstHeaderValue(headers, 'grpc-status');
  if (status === undefined) return undefined;
  const message = firstHeaderValue(headers, 'grpc-message');
  removeHeader(headers, 'grpc-status');
  removeHeader(headers, 'grpc-message');
  return message === undefined ? { 'grpc-status': status } : { 'grpc-status': status, 'grpc-message': message };
}
