/**
 * Hop-by-hop header handling (RFC 9110 §7.6.1): these describe one connection and
 * must not be forwarded, nor must any header that the Connection header names.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'trailer']);

/** The extra header names a Connection header lists (`Connection: close, x-foo` → {x-foo}); undefined when none. */
export function connectionNominated(connectionValue: string): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (const token of connectionValue.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive') continue;
    (names ??= new Set()).add(name);
  }
  return names;
}

function text(x: string | Buffer): string {
  return typeof x === 'string' ? x : x.toString('latin1');
}

/**
 * Appends a raw header list (`[name, value, ...]` in any case: node's `rawHeaders` of HTTP/1.1
 * or HTTP/2, undici's response headers) to `out` with lowercase names, leaving out hop-by-hop
 * headers and those the Connection header nominates, and HTTP/2 pseudo-headers (`:authority`
 * becomes `host`). Returns whether a
 * Transfer-Encoding header was present (the message has a body of unknown length).
 */
export function copyEndToEnd(raw: readonly (string | Buffer)[], out: string[]): boolean {
  const start = out.length;
  let connection: string | undefined;
  let transferEncoding = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]!).toLowerCase();
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') connection = connection === undefined ? text(raw[i + 1]!) : `${connection},${text(raw[i + 1]!)}`;
      else if (name === 'transfer-encoding') transferEncoding = true;
      // `te: trailers` says the client takes trailers (gRPC needs it end to end); Envoy forwards that value only.
      else if (name === 'te' && text(raw[i + 1]!).trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    // HTTP/2 pseudo-headers: the method, path and scheme travel apart; the authority is the Host.
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':authority') out.push('host', text(raw[i + 1]!));
      continue;
    }
    out.push(name, text(raw[i + 1]!));
  }
  // The usual values name no other header; skip the parse for them.
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return transferEncoding;
  const nominated = connectionNominated(connection);
  if (nominated === undefined) return transferEncoding;
  let w = start;
  for (let r = start; r < out.length; r += 2) {
    // RFC 9110 §10.1.4: a client sending TE nominates it in Connection; `te: trailers` still goes on, as in Envoy.
    if (nominated.has(out[r]!) && out[r] !== 'te') continue;
    out[w++] = out[r]!;
    out[w++] = out[r + 1]!;
  }
  out.length = w;
  return transferEncoding;
}

/**
 * Headers a Connection header must not nominate (Envoy refuses the request): dropping them
 * would let a client erase what the proxy trusts about it (x-forwarded-*) or where it goes (host).
 */
const PROTECTED = new Set(['host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
/** Envoy refuses a Connection header listing this many tokens or more. */
const MAX_CONNECTION_TOKENS = 10;

/** Why a request's Connection header value is refused, or undefined when it is acceptable. */
export function refusedConnectionValue(value: string): string | undefined {
  if (value === 'keep-alive' || value === 'close') return undefined;
  const tokens = value.split(',');
  if (tokens.length >= MAX_CONNECTION_TOKENS) return `Connection header with ${tokens.length} tokens`;
  for (const token of tokens) {
    const nominated = token.trim().toLowerCase();
    if (PROTECTED.has(nominated) || nominated.startsWith(':')) return `Connection header nominating ${nominated}`;
  }
  return undefined;
}
