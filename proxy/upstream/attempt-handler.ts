import type { Dispatcher } from 'undici';

/** undici's response trailers: a flat raw list from HTTP/1.1, an object from HTTP/2, or none. */
export type UpstreamTrailers = readonly (string | Buffer)[] | Readonly<Record<string, string | string[] | undefined>> | null | undefined;

/** What an attempt's undici callbacks go to: the request, told which attempt they are about. */
export interface AttemptSink {
  attemptConnected(id: number, abort: (reason?: Error) => void): void;
  attemptHeaders(id: number, statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean;
  attemptData(id: number, chunk: Buffer): boolean;
  attemptComplete(id: number, trailers: UpstreamTrailers): void;
  attemptFailed(id: number, err: Error): void;
}

/**
 * undici's handler for a retry (or a keep-alive race resend). The first attempt's handler is the
 * UpstreamRequest itself (no extra object on the common path); each later attempt gets one of
 * these, so callbacks of an attempt the request gave up on (a retried response being drained,
 * an aborted attempt's late error) are told apart by their id and ignored.
 */
export class AttemptHandler implements Dispatcher.DispatchHandler {
  constructor(
    private readonly sink: AttemptSink,
    private readonly id: number,
  ) {}

  onConnect(abort: (reason?: Error) => void): void {
    this.sink.attemptConnected(this.id, abort);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    return this.sink.attemptHeaders(this.id, statusCode, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    return this.sink.attemptData(this.id, chunk);
  }

  onComplete(trailers: UpstreamTrailers): void {
    this.sink.attemptComplete(this.id, trailers);
  }

  onError(err: Error): void {
    this.sink.attemptFailed(this.id, err);
  }
}
