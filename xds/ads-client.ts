import { Client, credentials, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AdsProtocol } from './ads-protocol';
import { Backoff, DEFAULT_BACKOFF } from './xds-backoff';
import type { XdsResourceType, XdsUpdate } from './xds-resource-types';

/** What the client hands updates to, and tells about the stream. */
export interface AdsHandler {
  /** Applies an update whole; returns why it is rejected (the NACK's message), or undefined to ACK it. */
  apply(update: XdsUpdate): string | undefined;
  accepted(update: XdsUpdate): void;
  rejected(type: XdsResourceType, names: readonly string[], error: string): void;
  connected(up: boolean): void;
}

export interface AdsClientOptions {
  /** host:port of the control plane. */
  readonly target: string;
  /** The Node message; sent on the first request of each stream, or on every request. */
  readonly node: object;
  readonly nodeOnFirstMessageOnly: boolean;
}

/**
 * The ADS stream to the control plane: one bidirectional gRPC stream for every resource type,
 * restarted with backoff when it ends, with every subscription (and what the client holds)
 * sent again on the new stream. Responses are processed one at a time, in order; the requests
 * a response causes (its ACK or NACK, then subscription changes) follow it in that order.
 *
 * The protocol (state of the world or Delta) is the `protocol` object's: this class only moves
 * messages and keeps one protocol state per type URL.
 */
export class AdsClient<S, Req, Res extends { readonly type_url: string }> {
  private readonly client: Client;
  private readonly states = new Map<string, S>();
  private readonly types = new Map<string, XdsResourceType>();
  private readonly backoff: Backoff;
  private call: ClientDuplexStream<Req, Res> | undefined;
  private streamStartedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
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
    this.client = new Client(options.target, credentials.createInsecure(), {
      // The channel's own reconnect backoff must not outgrow the stream's.
      'grpc.initial_reconnect_backoff_ms': DEFAULT_BACKOFF.initialMs,
      'grpc.max_reconnect_backoff_ms': DEFAULT_BACKOFF.maxMs,
      // A mesh's clusters and endpoints easily exceed gRPC's 4 MB default in one SotW response.
      'grpc.max_receive_message_length': -1,
    });
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
    this.call?.cancel();
    this.client.close();
  }

  private startStream(): void {
    if (this.call !== undefined || this.closed) return;
    this.streamStartedAt = Date.now();
    const method = this.protocol.method();
    const call = this.client.makeBidiStreamRequest(method.path, method.serialize, method.deserialize);
    this.call = call;
    this.nodeSent = false;
    this.responded = false;
    for (const [url, state] of this.states) this.states.set(url, this.protocol.newStream(state));
    call.on('metadata', () => this.setConnected(true));
    call.on('data', (response: Res) => this.onResponse(response));
    // The status says why the stream ended; without this listener an error would be thrown.
    call.on('error', () => undefined);
    call.on('status', (status: StatusObject) => this.onStreamEnd(call, status));
    for (const url of this.states.keys()) this.flush(url);
  }

  private onStreamEnd(call: ClientDuplexStream<Req, Res>, status: StatusObject): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.setConnected(false);
    if (this.closed) return;
    // A stream that got responses was healthy: the backoff starts over. Either way stream starts
    // are spaced by the backoff delay, so a server that drops every stream is not hammered.
    if (this.responded) this.backoff.reset();
    const waitMs = this.backoff.wait(Date.now() - this.streamStartedAt);
    this.log.warn({ code: status.code, details: status.details, target: this.options.target, retryInMs: Math.round(waitMs) }, 'ADS stream ended; reconnecting');
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
    if (up) this.log.info({ target: this.options.target }, 'ADS stream connected');
    this.handler.connected(up);
  }
}
