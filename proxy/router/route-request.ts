import { joinedHeaderValue, type FlatHeaders } from './flat-headers';

/** What routing reads from a downstream request. */
export interface RouteRequest {
  readonly method: string;
  readonly authority: string;
  /** Without the query string. */
  readonly path: string;
  /** The part after '?', '' when there is none. */
  readonly query: string;
  /** Flat and lowercase; see flat-headers.ts. */
  readonly headers: FlatHeaders;
  readonly scheme: 'http' | 'https';
}

/**
 * Per-request state that command operators (`%DOWNSTREAM_REMOTE_ADDRESS%`, ...) and hash
 * policies read. The proxy builds one per request (and per upstream attempt once the upstream
 * address is known).
 */
export interface HeaderContext {
  readonly request: RouteRequest;
  readonly downstreamRemoteAddress: string;
  readonly downstreamRemotePort: number;
  readonly downstreamLocalAddress: string;
  readonly downstreamLocalPort: number;
  /** As Envoy's %PROTOCOL% prints it: "HTTP/1.1", "HTTP/2", ... */
  readonly protocol: string;
  /** Epoch milliseconds at which the downstream request started, for %START_TIME%. */
  readonly startTimeMs: number;
  /** Known once an upstream host is chosen; only response headers may use it. */
  readonly upstreamRemoteAddress?: string;
  readonly upstreamRemotePort?: number;
}

/** The request pseudo-headers Envoy exposes to matchers, carried as RouteRequest fields. */
const PSEUDO_HEADERS = [':method', ':authority', ':path', ':scheme'] as const;
export type PseudoHeader = (typeof PSEUDO_HEADERS)[number];

export function isPseudoHeader(name: string): name is PseudoHeader {
  return (PSEUDO_HEADERS as readonly string[]).includes(name);
}

export function pseudoHeaderValue(req: RouteRequest, name: PseudoHeader): string {
  switch (name) {
    case ':method':
      return req.method;
    case ':authority':
      return req.authority;
    case ':path':
      // Envoy's :path carries the query string.
      return req.query === '' ? req.path : `${req.path}?${req.query}`;
    case ':scheme':
      return req.scheme;
  }
}

/**
 * A request header's value for matching, multiple values joined with "," as Envoy does.
 * `pseudo` is decided once at compile time by the caller (isPseudoHeader).
 */
export function requestHeaderValue(req: RouteRequest, name: string, pseudo: boolean): string | undefined {
  return pseudo ? pseudoHeaderValue(req, name as PseudoHeader) : joinedHeaderValue(req.headers, name);
}

/**
 * First value of query parameter `name`, undecoded, as Envoy's route matching and hashing read
 * the query (a parameter without '=' has the value '').
 */
export function queryParameterValue(query: string, name: string): string | undefined {
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    const nameEnd = start + name.length;
    if (query.startsWith(name, start) && (nameEnd === end || query.charCodeAt(nameEnd) === 61 /* = */)) {
      return nameEnd === end ? '' : query.slice(nameEnd + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}
