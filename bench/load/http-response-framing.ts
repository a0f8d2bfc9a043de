/** A complete response found at the start of a buffer. */
export interface FramedResponse {
  /** Bytes the response occupies, headers and body. */
  length: number;
  status: number;
  /** False when the server announced it will close the connection after this response. */
  keepAlive: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Finds where the first HTTP/1.1 response in `buf` ends, or returns null when more bytes are needed.
 * Only what a keep-alive benchmark meets is supported: Content-Length, chunked, and bodiless statuses;
 * a response framed by connection close cannot be timed per request, so it is an error.
 */
export function frameHttpResponse(buf: Buffer): FramedResponse | null {
  const headEnd = buf.indexOf(CRLF2);
  if (headEnd < 0) return null;
  const head = buf.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const statusMatch = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
  if (!statusMatch) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0].slice(0, 60))}`);
  const status = Number(statusMatch[2]);
  let contentLength: number | undefined;
  let chunked = false;
  let keepAlive = statusMatch[1] === '1';
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon < 0) continue;
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') contentLength = Number(value);
    else if (name === 'transfer-encoding') chunked = value.split(',').some((v) => v.trim() === 'chunked');
    else if (name === 'connection') keepAlive = value.includes('keep-alive') || (keepAlive && !value.includes('close'));
  }
  const bodyStart = headEnd + 4;
  if (status < 200 || status === 204 || status === 304) return { length: bodyStart, status, keepAlive };
  if (chunked) {
    const end = chunkedBodyEnd(buf, bodyStart);
    return end < 0 ? null : { length: end, status, keepAlive };
  }
  if (contentLength === undefined || !Number.isFinite(contentLength)) {
    throw new Error('response has neither Content-Length nor chunked encoding');
  }
  const end = bodyStart + contentLength;
  return buf.length >= end ? { length: end, status, keepAlive } : null;
}

/** Offset just past the last chunk and trailers, or -1 if not all of it has arrived. */
function chunkedBodyEnd(buf: Buffer, start: number): number {
  let pos = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return -1;
    const size = parseInt(buf.toString('latin1', pos, lineEnd).split(';')[0].trim(), 16);
    if (!Number.isFinite(size)) throw new Error('malformed chunk size');
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      let p = lineEnd + 2;
      for (;;) {
        const e = buf.indexOf('\r\n', p, 'latin1');
        if (e < 0) return -1;
        if (e === p) return e + 2;
        p = e + 2;
      }
    }
    pos = lineEnd + 2 + size + 2;
    if (pos > buf.length) return -1;
  }
}
