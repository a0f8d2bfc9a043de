import { Client, connectivityState, credentials, type ChannelCredentials, type ChannelOptions, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Http2Keepalive } from '../proxy/cluster/cluster-config';
import type { AdsProtocol } from './ads-protocol';
import { currentControlPlane, firstControlPlane, nextControlPlane, type ControlPlaneRotation } from './control-plane-endpoints';
import { Backoff } from './xds-backoff';
import type { XdsResourceType, XdsUpdate } from './xds-resource-types';

/** What the client hands updates to, and tells about the stream. */
export interface AdsHandler {
  /** Applies an update whole; returns why it is rejected (the NACK's message), or undefined to ACK it. */
  apply(update: XdsUpdate): string | undefined;
  accepted(update: XdsUpdate): void;
  rejected(type: XdsResourceType, names: readonly string[], error: string): void;
  /** The control plane (host:port) the stream is up to; undefined once it is down. */
  connected(target: string | undefined): void;
}

export interface AdsClientOptions {
  /** The control plane: host:port, or the ADS cluster's endpoints (host:port) in config order, to fail over between. */
  readonly target: string | readonly string[];
  /** How long a stream waits for its connection before it moves on (the ADS cluster's connect_timeout). */
  readonly connectTimeoutMs?: number;
  /** The ADS cluster's connection_keepalive: a replica that stops answering PINGs is left for the next. */
  readonly keepalive?: Http2Keepalive;
  /** The Node message; sent on the first request of each stream, or on every request. */
  readonly node: object;
  readonly nodeOnFirstMessageOnly: boolean;
  /** TLS to the control plane (ads-credentials.ts); plaintext when absent. */
  readonly credentials?: ChannelCredentials;
  /** Channel options the credentials need (e.g. the SNI). */
  readonly channelOptions?: ChannelOptions;
}

/** Envoy's default cluster connect_timeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * The ADS stream to the control plane: one bidirectional gRPC stream for every resource type,
 * restarted with backoff when it ends, on the next of the control plane's endpoints (see
 * control-plane-endpoints.ts), with every subscription (and what the client holds) sent again
 * on the new stream. Responses are processed one at a time, in order; the requests
 * a response causes (its ACK or NACK, then subscription changes) follow it in that order.
 *
 * The protocol (state of the world or Delta) is the `protocol` object's: this class only moves
 * messages and keeps one protocol state per type URL.
 */
export class AdsClient<S, Req, Res extends { readonly type_url: string }> {
  private rotation: ControlPlaneRotation;
  /** The current stream's channel. */
  private client: Client | undefined;
  /** The control plane the last stream that came up was on, for the log line of a switch. */
  private lastConnected: string | undefined;
  private readonly states = new Map<string, S>();
  private readonly types = new Map<string, XdsResourceType>();
  private readonly backoff: Backoff;
  private call: ClientDuplexStream<Req, Res> | undefined;
  private streamStartedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private nodeSent = false;
  private responded = false;
  private isConnected = false;
  /** Set while a response is applied: subscription changes wait for its ACK/NACK to go out first. */
  private applying = false;
  private closed = false;

  constructor(
    private readonly protocol: AdsProtocol<S, Req, Res>,
    private readonly options: AdsClientOptions,
    private readonly handler: AdsHandler,
    private readonly log: Logger,
  ) {
    this.rotation = firstControlPlane(typeof options.target === 'string' ? [options.target] : options.target);
    this.backoff = new Backoff();
  }

  start(): void {
    this.startStream();
  }

  /** Subscribes to `type`: every resource (`names` undefined) or the ones named. Replaces the previous names. */
  subscribe(type: XdsResourceType, names?: ReadonlySet<string>): void {
    this.types.set(type.typeUrl, type);
    const current = this.states.get(type.typeUrl);
    this.states.set(type.typeUrl, current === undefined ? this.protocol.initial(type, names) : this.protocol.withNames(current, names));
    if (!this.applying) this.flush(type.typeUrl);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.connectTimer);
    this.call?.cancel();
    this.client?.close();
  }

  private startStream(): void {
    if (this.call !== undefined || this.closed) return;
    this.streamStartedAt = Date.now();
    const target = currentControlPlane(this.rotation);
    // A channel per stream, closed when the stream ends: the next stream, to whichever endpoint,
    // connects afresh (a connection stuck in its handshake is not waited on again), and only the
    // stream's backoff spaces attempts, never a channel's reconnect backoff of its own.
    const { keepalive } = this.options;
    const client = new Client(target, this.options.credentials ?? credentials.createInsecure(), {
      ...this.options.channelOptions,
      // A mesh's clusters and endpoints easily exceed gRPC's 4 MB default in one SotW response.
      'grpc.max_receive_message_length': -1,
      // A frozen replica (or a dead path to it) keeps the TCP connection open: only unanswered
      // PINGs tell. Off unless configured, as in Envoy: servers may refuse frequent PINGs.
      ...(keepalive && { 'grpc.keepalive_time_ms': keepalive.intervalMs, 'grpc.keepalive_timeout_ms': keepalive.timeoutMs }),
    });
    const method = this.protocol.method();
    const call = client.makeBidiStreamRequest(method.path, method.serialize, method.deserialize);
    this.client = client;
    this.call = call;
    this.nodeSent = false;
    this.responded = false;
    for (const [url, state] of this.states) this.states.set(url, this.protocol.newStream(state));
    call.on('metadata', () => this.setConnected(true));
    call.on('data', (response: Res) => this.onResponse(response));
    // The status says why the stream ended; without this listener an error would be thrown.
    call.on('error', () => undefined);
    call.on('status', (status: StatusObject) => this.onStreamEnd(call, status));
    // grpc-js has no connect timeout: a replica that accepts TCP but never answers (hung, or
    // stopped) would hold the stream for good. As Envoy, give up after the cluster's connect_timeout.
    // (Not client.waitForReady: its deadline timer outlives a channel closed meanwhile.)
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => {
      if (client.getChannel().getConnectivityState(false) === connectivityState.READY) return;
      this.log.warn({ target, connectTimeoutMs }, 'control plane not connected within connect_timeout; giving up on this attempt');
      call.cancel();
    }, connectTimeoutMs);
    this.connectTimer.unref();
    for (const url of this.states.keys()) this.flush(url);
  }

  private onStreamEnd(call: ClientDuplexStream<Req, Res>, status: StatusObject): void {
    if (this.call !== call) return;
    this.call = undefined;
    clearTimeout(this.connectTimer);
    this.client?.close();
    this.client = undefined;
    this.setConnected(false);
    if (this.closed) return;
    // A stream that got responses was healthy: the backoff starts over. Either way stream starts
    // are spaced by the backoff delay (across endpoints: the delay is the stream's, not the
    // endpoint's), so control planes that drop every stream are not hammered.
    if (this.responded) this.backoff.reset();
    const waitMs = this.backoff.wait(Date.now() - this.streamStartedAt);
    const target = currentControlPlane(this.rotation);
    this.rotation = nextControlPlane(this.rotation);
    this.log.warn(
      { code: status.code, details: status.details, target, next: currentControlPlane(this.rotation), retryInMs: Math.round(waitMs) },
      'ADS stream ended; reconnecting',
    );
    this.restartTimer = setTimeout(() => this.startStream(), waitMs);
    this.restartTimer.unref();
  }

  private onResponse(response: Res): void {
    this.responded = true;
    this.setConnected(true);
    const state = this.states.get(response.type_url);
    const type = this.types.get(response.type_url);
    if (state === undefined || type === undefined) {
      this.log.warn({ typeUrl: response.type_url }, 'ADS response for a type not subscribed to; ignored');
      return;
    }
    const received = this.protocol.receive(state, response);
    const outcome = 'update' in received ? this.apply(received.update) : received;
    if ('update' in outcome) {
      const [next, ack] = this.protocol.ack(received.state, response, outcome.update);
      this.states.set(response.type_url, next);
      this.send(ack);
      this.handler.accepted(outcome.update);
    } else {
      const [next, nack] = this.protocol.nack(received.state, response, outcome.error);
      this.states.set(response.type_url, next);
      this.send(nack);
      this.handler.rejected(type, outcome.names, outcome.error);
    }
    for (const url of this.states.keys()) this.flush(url);
  }

  private apply(update: XdsUpdate): { update: XdsUpdate } | { error: string; names: readonly string[] } {
    let error: string | undefined;
    this.applying = true;
    try {
      error = this.handler.apply(update);
    } catch (err) {
      // A bug in meshlet, not bad config: logged, and the control plane hears of it through the NACK.
      this.log.error({ err }, 'applying an xDS update failed');
      error = `meshlet failed to apply the update: ${(err as Error).message}`;
    } finally {
      this.applying = false;
    }
    return error === undefined ? { update } : { error, names: update.resources.map((r) => r.name) };
  }

  private flush(typeUrl: string): void {
    if (this.call === undefined) return;
    const [next, request] = this.protocol.subscriptionRequest(this.states.get(typeUrl)!);
    this.states.set(typeUrl, next);
    if (request !== undefined) this.send(request);
  }

  private send(request: Req): void {
    if (this.call === undefined) return;
    const withNode = this.options.nodeOnFirstMessageOnly && this.nodeSent ? request : { ...request, node: this.options.node };
    this.nodeSent = true;
    this.call.write(withNode);
  }

  private setConnected(up: boolean): void {
    if (up === this.isConnected) return;
    this.isConnected = up;
    const target = currentControlPlane(this.rotation);
    if (up) {
      const was = this.lastConnected !== undefined && this.lastConnected !== target ? ` (was ${this.lastConnected})` : '';
      this.log.info({ target, previous: this.lastConnected }, `connected to control plane ${target}${was}`);
      this.lastConnected = target;
    }
    this.handler.connected(up ? target : undefined);
  }
}
