import type { IncomingMessage } from 'node:http';

/**
 * Envoy's buffer filter: the request body is read whole before the request goes upstream, and
 * refused (done(undefined): the caller answers 413) once it would exceed `maxBytes` — a declared
 * content-length over the limit is refused without reading a byte. Past the limit the rest is
 * not read: the caller's reply closes the connection.
 */
export function readWholeBody(req: IncomingMessage, contentLength: string | undefined, maxBytes: number, done: (body: Buffer | undefined) => void): void {
  if (contentLength !== undefined && Number(contentLength) > maxBytes) return done(undefined);
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBytes) {
      chunks.push(chunk);
      return;
    }
    req.off('data', onData);
    req.off('end', onEnd);
    req.pause();
    done(undefined);
  };
  const onEnd = () => done(Buffer.concat(chunks, size));
  req.on('data', onData);
  req.once('end', onEnd);
}
