import { refusedConnectionValue } from './hop-by-hop';

/**
 * Checks on a parsed request that node's HTTP/1.1 parser does not make and Envoy does
 * (the parser itself refuses conflicting Content-Length/Transfer-Encoding, bad chunk sizes,
 * obs-fold, bare CR, NUL and other invalid bytes). Pure; one pass over the header names.
 */

/** `common_http_protocol_options.headers_with_underscores_action`. */
export type UnderscoresAction = 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';

export interface RequestLimits {
  /** `common_http_protocol_options.max_headers_count` (Envoy's default 100). */
  readonly maxHeadersCount: number;
  readonly underscoresAction: UnderscoresAction;
}

export interface RequestRefusal {
  readonly status: 400 | 431;
  readonly reason: string;
}

/**
 * A refusal, or undefined for a request that may go on. A Connection header may not nominate
 * host or x-forwarded-* (hop-by-hop.ts). More than one Host (or an HTTP/2
 * `:authority` next to a different `host`) is refused: a proxy and the server behind it could
 * each believe a different one, which is how requests are smuggled past host-based routing.
 */
export function refuseRequest(rawHeaders: readonly string[], limits: RequestLimits): RequestRefusal | undefined {
  if (rawHeaders.length / 2 > limits.maxHeadersCount) {
    return { status: 431, reason: `more than ${limits.maxHeadersCount} request headers (max_headers_count)` };
  }
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Only names of the right length are lowered: the common request pays a length check per header.
    if ((name.length === 4 && name.toLowerCase() === 'host') || name === ':authority') {
      const value = rawHeaders[i + 1]!;
      if (host !== undefined && (name !== ':authority' || value !== host)) return { status: 400, reason: 'more than one Host header' };
      host = value;
    }
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const refused = refusedConnectionValue(rawHeaders[i + 1]!);
      if (refused !== undefined) return { status: 400, reason: refused };
    }
    if (limits.underscoresAction === 'REJECT_REQUEST' && name.includes('_')) {
      return { status: 400, reason: `header name with an underscore: ${name} (headers_with_underscores_action: REJECT_REQUEST)` };
    }
  }
  return undefined;
}

/** headers_with_underscores_action DROP_HEADER: removes such headers from the flat list, in place. */
export function dropUnderscoreHeaders(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r]!.includes('_')) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
}
