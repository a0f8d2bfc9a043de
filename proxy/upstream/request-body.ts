import type { IncomingMessage } from 'node:http';

/**
 * Reads a downstream request body of known length (`content-length`, at most the route's
 * per_request_buffer_limit_bytes) into one buffer, so that retries can send it again.
 * node's parser delivers exactly `length` bytes or aborts the request (which the caller sees
 * as the downstream closing); `done` gets the body once it is complete.
 */
export function bufferRequestBody(req: IncomingMessage, length: number, done: (body: Buffer) => void): void {
  const body = Buffer.allocUnsafe(length);
  let offset = 0;
  req.on('data', (chunk: Buffer) => {
    const n = Math.min(chunk.length, length - offset);
    chunk.copy(body, offset, 0, n);
    offset += n;
  });
  req.once('end', () => done(offset === length ? body : body.subarray(0, offset)));
}

/** The content-length to buffer, or undefined when the body cannot be buffered within `limit`. */
export function bufferableLength(contentLength: string | undefined, limit: number): number | undefined {
  if (contentLength === undefined || !/^\d+$/.test(contentLength)) return undefined;
  const n = Number(contentLength);
  return n <= limit ? n : undefined;
}
