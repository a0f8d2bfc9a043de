import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * A downstream request body that a retry can send again, as Envoy's router keeps it: the first
 * attempt streams it upstream as it arrives (no waiting for the whole body, so streaming calls
 * such as gRPC's work), while a copy is kept up to the route's per_request_buffer_limit_bytes.
 * A later attempt gets the copy, then whatever is still to come. Past the limit the copy is
 * dropped and the request can no longer be retried (`onOverflow`).
 */
export class ReplayableBody {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private ended = false;
  private reader: Readable | undefined;
  /** Every byte received so far is still kept. */
  replayable = true;

  constructor(
    readonly source: IncomingMessage,
    private readonly limitBytes: number,
    private readonly onOverflow: () => void,
  ) {
    source.on('data', (chunk: Buffer) => this.received(chunk));
    source.once('end', () => {
      this.ended = true;
      this.reader?.push(null);
    });
    // Nothing is read until an attempt's stream asks.
    source.pause();
  }

  /** The body for a new attempt (the previous attempt's stream is abandoned). */
  attemptStream(): Readable {
    this.reader?.destroy();
    const reader = new Readable({ read: () => this.source.resume() });
    for (const chunk of this.chunks) reader.push(chunk);
    if (this.ended) reader.push(null);
    this.reader = reader;
    return reader;
  }

  private received(chunk: Buffer): void {
    if (this.replayable) {
      if (this.kept + chunk.length > this.limitBytes) {
        this.replayable = false;
        this.chunks.length = 0;
        this.onOverflow();
      } else {
        this.chunks.push(chunk);
        this.kept += chunk.length;
      }
    }
    const reader = this.reader;
    // Backpressure: the attempt's upstream reads at its pace; between attempts nothing is read.
    if (reader === undefined || reader.destroyed || !reader.push(chunk)) this.source.pause();
  }
}

/** Whether a declared content-length already rules out keeping the body within `limit`. */
export function exceedsLimit(contentLength: string | undefined, limit: number): boolean {
  return contentLength !== undefined && /^\d+$/.test(contentLength) && Number(contentLength) > limit;
}
