/**
 * Raw HTTP/1 request generation for the http1 target: request lines with odd methods, targets and
 * versions; header names/values with CR/LF/NUL/obs-fold/high bytes; conflicting Content-Length
 * and Transfer-Encoding; chunked bodies with bad sizes; bodies that hold a whole hidden request
 * (a smuggling payload); long lines; pipelined requests and garbage; byte-level damage; split
 * writes and early closes.
 *
 * Every request carries a token (`fz<index>x<n>z`) in its path and User-Agent; a request hidden
 * in a body carries `fz<index>h<n>z`. The upstream, the proxy's access log and the client each
 * report the tokens they saw, which is how http1.ts tells who parsed what.
 */
import { Rng } from '../lib/rng';

export interface HttpCase {
  readonly index: number;
  /** The bytes sent, in writes (joined, the whole input). */
  readonly writes: readonly Buffer[];
  /** Pause before each write, ms. */
  readonly delaysMs: readonly number[];
  /**
   * `fin`: after the writes, wait for the answers to stop, then half-close and wait for the proxy to close.
   * `fin-now`: half-close right after the writes. `reset`: destroy the socket after the writes (an early close).
   */
  readonly close: 'fin' | 'fin-now' | 'reset';
  /** Tokens of the top-level requests, in order. */
  readonly tokens: readonly string[];
  /** Tokens of requests hidden in bodies. */
  readonly hidden: readonly string[];
  /** What the generator did, for the report. */
  readonly notes: readonly string[];
}

export const TOKEN_RE = /fz(\d+)([xh])(\d+)z/g;

export function tokensIn(text: string): string[] {
  return [...text.matchAll(TOKEN_RE)].map((m) => m[0]);
}

/** The case index a token belongs to. */
export function tokenCase(token: string): number {
  return Number(/^fz(\d+)/.exec(token)![1]);
}

const METHODS_ODD = [
  'CONNECT', 'TRACE', 'PRI', 'get', 'G ET', '', 'GET\0', 'G\u00c9T', 'M-SEARCH', 'PROPFIND', 'ACL', 'SOURCE', 'QUERY', 'LINK', 'PURGE',
  'X'.repeat(300), 'GET GET', 'GET\t', '\u00ff', '-', 'HEAD ', ' GET',
];
const VERSIONS_ODD = ['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/11', 'HTTP/1.10', '', 'HTTP/1.1\t', 'HTTP/9.9', 'HTTPS/1.1'];
const EOLS_ODD = ['\n', '\r', '\r\r\n', '\n\r', ' \r\n', '\r\n\r\n'];
const CL_ODD = ['05', '+5', '-1', '5, 5', '5,6', ' 5', '5 ', '0x5', '1e1', '99999999999999999999', '', '5\0', '5.0', '\u0665', '18446744073709551616', '4294967301'];
const TE_ODD = [
  'Chunked', 'CHUNKED', 'chunked, chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'chunked\t', ' chunked', 'xchunked', 'chunked\0',
  'chunked;q=1', 'chunked ,', ',chunked', 'chun\u00adked', 'chunk', 'identity, chunked', '\u212aked',
];
const CHUNK_SIZE_ODD = ['g', '-1', 'fffffffffffffffff', '1000000000000000000', ' 5', '5 ', '5;ext', '5;a="\r\n"', '0x5', '5\t', '+5', '05', '', '5;', '5 ;x=y', '\u0665'];
const HOSTS = ['127.0.0.1', 'localhost', 'a.b', '', 'a b', '[::1]', 'x'.repeat(300), 'h\0st', 'host:99999', 'host:', ':80', 'h\u00e9st', 'a.b, c.d', '@evil', 'user@host'];
const HEADER_NAMES_ODD = ['Host ', 'Host\t', 'X\0Y', 'X\u00ffY', 'X Y', '', 'X:Y', 'Content-Length ', 'Transfer-Encoding ', ' Transfer-Encoding', 'X\rY', 'X\nY', '(', '{', '"', ':authority', ':path'];
const VALUE_DAMAGE = ['\0', '\r', '\n', '\r\n ', '\r\n\t', '\u0080', '\u00ff', '\u0001', '\u007f', ' ', '\t', '\r\nX-Injected: 1', '\r\n\r\n'];

interface Builder {
  rng: Rng;
  index: number;
  port: number;
  notes: string[];
  hidden: string[];
}

/** A complete, well-formed request carrying a hidden token: what a smuggler puts in a body. */
function hiddenRequest(b: Builder): string {
  const token = `fz${b.index}h${b.hidden.length}z`;
  b.hidden.push(token);
  const method = b.rng.pick(['GET', 'POST', 'GET', 'DELETE']);
  const body = method === 'POST' ? 'Content-Length: 0\r\n' : '';
  return `${method} /${token} HTTP/1.1\r\nHost: smuggled\r\nUser-Agent: ${token}\r\n${body}\r\n`;
}

function bodyText(b: Builder): string {
  const { rng } = b;
  return rng.weighted<() => string>([
    [4, () => 'x'.repeat(rng.range(0, 40))],
    [4, () => hiddenRequest(b)],
    [2, () => `0\r\n\r\n${hiddenRequest(b)}`],
    [1, () => 'x'.repeat(rng.pick([1000, 65536, 200_000]))],
    [1, () => rng.bytes(rng.range(1, 64)).toString('latin1')],
  ])();
}

function chunked(b: Builder, body: string): string {
  const { rng } = b;
  const parts: string[] = [];
  let rest = body;
  while (rest.length > 0) {
    const n = Math.min(rest.length, rng.range(1, 64));
    parts.push(`${n.toString(16)}\r\n${rest.slice(0, n)}\r\n`);
    rest = rest.slice(n);
  }
  let last = '0\r\n\r\n';
  if (rng.chance(0.5)) {
    b.notes.push('bad chunk');
    switch (rng.int(7)) {
      case 0:
        parts.unshift(`${rng.pick(CHUNK_SIZE_ODD)}\r\nabcde\r\n`);
        break;
      case 1:
        // Data longer than its size.
        parts.unshift(`2\r\nabcdef\r\n`);
        break;
      case 2:
        // No CRLF after the data.
        parts.unshift(`3\r\nabc`);
        break;
      case 3:
        last = `0\r\n${rng.pick(['Content-Length: 5', 'Transfer-Encoding: chunked', 'X-Trailer: 1', 'Host: x', 'X\0: y'])}\r\n\r\n`;
        break;
      case 4:
        last = rng.pick(['0\r\n', '00\r\n\r\n', '0;ext\r\n\r\n', '0\n\n', '0\r\n\n', '']);
        break;
      case 5:
        parts.unshift(`5;${'e'.repeat(rng.pick([10, 5000, 70000]))}\r\nabcde\r\n`);
        break;
      default:
        parts.push(`${rng.pick(CHUNK_SIZE_ODD)}\r\n`);
    }
  }
  return parts.join('') + last;
}

function requestBytes(b: Builder, token: string): string {
  const { rng } = b;
  const method = rng.weighted<() => string>([
    [30, () => 'GET'],
    [30, () => 'POST'],
    [4, () => 'PUT'],
    [4, () => 'HEAD'],
    [3, () => 'DELETE'],
    [3, () => 'OPTIONS'],
    [2, () => 'PATCH'],
    [8, () => rng.pick(METHODS_ODD)],
  ])();
  const path = `/${token}`;
  const target = rng.weighted<() => string>([
    [40, () => path],
    [6, () => `${path}${rng.pick(['?q=1', '?a=%00', '#frag', '/../x', '/%2e%2e/x', '\u00ff', ' x', '\tx', '?x=\u0001', '/?q=' + 'a'.repeat(500), '%', '%zz', '\\x'])}`],
    [3, () => `http://127.0.0.1:${b.port}${path}`],
    [2, () => `${rng.pick(['http://evil:99999', 'https://x', 'HTTP://X', 'http://', 'ftp://x', 'http://a@b'])}${path}`],
    [2, () => rng.pick(['*', 'host:443', '', '//' + token, token, '/' + token + ' HTTP/1.1\r\nX: y'])],
    [2, () => `${path}/${'a'.repeat(rng.pick([1000, 9000, 70_000]))}`],
  ])();
  const version = rng.chance(0.93) ? 'HTTP/1.1' : rng.pick(VERSIONS_ODD);
  const eol = rng.chance(0.95) ? '\r\n' : rng.pick(EOLS_ODD);

  const headers: [string, string][] = [];
  const hostCount = rng.weighted([[90, 1], [6, 0], [4, 2]]);
  for (let i = 0; i < hostCount; i++) headers.push(['Host', rng.chance(0.85) ? `127.0.0.1:${b.port}` : rng.pick(HOSTS)]);
  headers.push(['User-Agent', token]);
  if (rng.chance(0.3)) headers.push(['X-Fuzz', token]);

  const extras = rng.range(0, 3);
  for (let i = 0; i < extras; i++) {
    headers.push(
      rng.pick<() => [string, string]>([
        () => ['Connection', rng.pick(['close', 'keep-alive', 'close, x-a', 'upgrade', 'Upgrade', 'content-length', 'transfer-encoding', 'host', 'te', 'keep-alive, upgrade', ''])],
        () => ['Expect', rng.pick(['100-continue', '100-Continue', 'nope'])],
        () => ['TE', rng.pick(['trailers', 'chunked', 'gzip', ''])],
        () => ['Upgrade', rng.pick(['websocket', 'h2c', 'WebSocket', 'tls/1.0', ''])],
        () => ['Keep-Alive', 'timeout=1'],
        () => ['Proxy-Connection', 'keep-alive'],
        () => ['X-Forwarded-For', rng.pick(['1.2.3.4', 'unknown', ''])],
        () => ['Trailer', 'X-T'],
        () => ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
        () => ['Sec-WebSocket-Version', '13'],
        () => ['Content-Type', 'text/plain'],
        () => ['X-Request-Id', token],
        () => ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
      ])(),
    );
  }
  // A websocket upgrade with requests after it: the tunnel must not carry what the proxy never parsed.
  if (rng.chance(0.08)) {
    headers.push(['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']);
    b.notes.push('websocket upgrade');
  }

  // Framing.
  let body = '';
  const framing = rng.weighted<string>([
    [method === 'GET' ? 30 : 10, 'none'],
    [20, 'cl'],
    [6, 'cl-short'],
    [4, 'cl-long'],
    [4, 'cl-odd'],
    [4, 'cl-dup'],
    [14, 'chunked'],
    [6, 'te-odd'],
    [6, 'te-cl'],
    [2, 'te-dup'],
  ]);
  if (framing !== 'none') b.notes.push(framing);
  const content = framing === 'none' ? '' : bodyText(b);
  switch (framing) {
    case 'cl':
      headers.push(['Content-Length', String(Buffer.byteLength(content, 'latin1'))]);
      body = content;
      break;
    case 'cl-short':
      headers.push(['Content-Length', String(rng.int(Math.max(1, content.length)))]);
      body = content;
      break;
    case 'cl-long':
      headers.push(['Content-Length', String(content.length + rng.range(1, 100))]);
      body = content;
      break;
    case 'cl-odd':
      headers.push(['Content-Length', rng.pick(CL_ODD)]);
      body = content;
      break;
    case 'cl-dup': {
      const n = content.length;
      headers.push(['Content-Length', String(n)], ['Content-Length', rng.pick([String(n), String(n + 1), '0', ` ${n}`])]);
      body = content;
      break;
    }
    case 'chunked':
      headers.push(['Transfer-Encoding', 'chunked']);
      body = chunked(b, content);
      break;
    case 'te-odd':
      headers.push(['Transfer-Encoding', rng.pick(TE_ODD)]);
      body = rng.chance(0.5) ? chunked(b, content) : content;
      break;
    case 'te-cl': {
      const te: [string, string] = ['Transfer-Encoding', rng.chance(0.6) ? 'chunked' : rng.pick(TE_ODD)];
      const cl: [string, string] = ['Content-Length', String(rng.chance(0.5) ? content.length : rng.range(0, 10))];
      headers.push(...(rng.chance(0.5) ? [te, cl] : [cl, te]));
      body = rng.chance(0.5) ? chunked(b, content) : content;
      break;
    }
    case 'te-dup':
      headers.push(['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', rng.pick(['identity', 'chunked', 'gzip', ''])]);
      body = chunked(b, content);
      break;
  }

  // Damage to header names and values.
  for (const h of headers) {
    if (!rng.chance(0.06)) continue;
    b.notes.push('header damage');
    if (rng.chance(0.4)) h[0] = rng.chance(0.5) ? rng.pick(HEADER_NAMES_ODD) : h[0] + rng.pick(VALUE_DAMAGE);
    else {
      const at = rng.int(h[1].length + 1);
      h[1] = h[1].slice(0, at) + rng.pick(VALUE_DAMAGE) + h[1].slice(at);
    }
  }
  if (rng.chance(0.03)) {
    b.notes.push('long header');
    headers.push(['X-Long', 'v'.repeat(rng.pick([8000, 17_000, 70_000, 100_000]))]);
  }
  if (rng.chance(0.02)) {
    b.notes.push('many headers');
    const n = rng.pick([100, 1000, 2100]);
    for (let i = 0; i < n; i++) headers.push([`X-H${i}`, 'v']);
  }
  if (rng.chance(0.03)) {
    b.notes.push('header without colon / obs-fold');
    headers.splice(rng.int(headers.length + 1), 0, rng.chance(0.5) ? ['NoColonHere', '\u0000'] : [' folded', 'continuation']);
  }
  // Shuffle some: Host last, Content-Length first, ...
  if (rng.chance(0.2)) headers.sort(() => rng.float() - 0.5);

  const headerLines = headers.map(([n, v]) => (v === '\u0000' && n === 'NoColonHere' ? n : n.startsWith(' ') ? ` ${v}` : `${n}: ${v}`));
  return `${method} ${target} ${version}${eol}${headerLines.map((l) => l + eol).join('')}${eol}${body}`;
}

function damage(rng: Rng, bytes: Buffer, notes: string[]): Buffer {
  let b: Buffer = bytes;
  const n = rng.smallCount(6);
  notes.push(`${n} byte edits`);
  const SPECIAL = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x80, 0xff, 0x30, 0x61, 0x3b, 0x2c];
  for (let i = 0; i < n; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(4)) {
      case 0:
        if (b.length > 0) {
          b = Buffer.from(b);
          b[Math.min(at, b.length - 1)] = rng.pick(SPECIAL);
        }
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick(SPECIAL)]), b.subarray(at)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 4)))]);
        break;
      default: {
        const seg = b.subarray(at, at + rng.range(1, 24));
        b = Buffer.concat([b.subarray(0, at), seg, b.subarray(at)]);
      }
    }
  }
  return b;
}

/** Case `index` of the run with `seed`, for a proxy listening on `port`. */
export function generateHttpCase(seed: number, index: number, port: number): HttpCase {
  const rng = Rng.forCase(seed, index);
  const b: Builder = { rng, index, port, notes: [], hidden: [] };
  const count = rng.weighted([[60, 1], [25, 2], [15, 3]]);
  const tokens: string[] = [];
  let text = '';
  for (let i = 0; i < count; i++) {
    const token = `fz${index}x${i}z`;
    tokens.push(token);
    text += requestBytes(b, token);
  }
  if (rng.chance(0.1)) {
    b.notes.push('trailing garbage');
    text += rng.pick(['\r\n', '\r\n\r\n', 'GARBAGE', '\0\0\0', 'HTTP/1.1 200 OK\r\n\r\n', 'GET / HTTP/1.1\r\n', rng.bytes(32).toString('latin1')]);
  }
  let bytes: Buffer = Buffer.from(text, 'latin1');
  // Characters above U+00FF: send some as UTF-8 instead of truncated latin1.
  if (/[^\u0000-\u00ff]/.test(text) && rng.chance(0.5)) bytes = Buffer.from(text, 'utf8');
  if (rng.chance(0.15)) bytes = damage(rng, bytes, b.notes);

  const writes: Buffer[] = [];
  const delaysMs: number[] = [];
  const split = rng.weighted<string>([
    [50, 'one'],
    [40, 'parts'],
    [5, 'bytewise'],
  ]);
  if (split === 'one' || bytes.length < 2) {
    writes.push(bytes);
    delaysMs.push(0);
  } else if (split === 'parts') {
    const cuts = [...new Set(Array.from({ length: rng.range(1, 5) }, () => rng.range(1, bytes.length - 1)))].sort((x, y) => x - y);
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      writes.push(bytes.subarray(from, cut));
      delaysMs.push(rng.chance(0.5) ? 0 : rng.range(1, 30));
      from = cut;
    }
  } else {
    const head = Math.min(bytes.length, 48);
    for (let i = 0; i < head; i++) {
      writes.push(bytes.subarray(i, i + 1));
      delaysMs.push(i === 0 ? 0 : 1);
    }
    if (head < bytes.length) {
      writes.push(bytes.subarray(head));
      delaysMs.push(1);
    }
  }
  let close = rng.weighted<HttpCase['close']>([
    [75, 'fin'],
    [10, 'fin-now'],
    [15, 'reset'],
  ]);
  if (close === 'reset' && writes.length > 1 && rng.chance(0.5)) {
    // Close in the middle: drop the last writes.
    const keep = rng.range(1, writes.length - 1);
    writes.length = keep;
    delaysMs.length = keep;
    b.notes.push('early close mid-request');
  } else if (close === 'reset') b.notes.push('reset after writes');
  if (writes.length === 0) close = 'fin';
  return { index, writes, delaysMs, close, tokens, hidden: b.hidden, notes: b.notes };
}
