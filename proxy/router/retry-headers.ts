import type { FlatHeaders } from './flat-headers';
import { parseRetryOn, type RetryRequestHeaders } from './retry-policy';

/**
 * The retry request headers Envoy's router consumes: removed from every request before it is
 * forwarded, whatever the client. meshlet honours the first three (and only from internal
 * clients — the caller decides that); the others are removed as Envoy removes them.
 */
const CONSUMED: ReadonlySet<string> = new Set([
  'x-envoy-retry-on',
  'x-envoy-max-retries',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-grpc-on',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-hedge-on-per-try-timeout',
]);

/** The shortest consumed name ('x-envoy-retry-on'). */
const MIN_LENGTH = 16;

/**
 * Removes the retry headers from `headers` and returns what they asked for; undefined when
 * there were none (the common case: one pass over the names, no allocation).
 */
export function takeRetryHeaders(headers: FlatHeaders): RetryRequestHeaders | undefined {
  let first = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length >= MIN_LENGTH && name.charCodeAt(0) === 120 /* x */ && name.charCodeAt(7) === 45 /* - */ && CONSUMED.has(name)) {
      first = i;
      break;
    }
  }
  if (first === -1) return undefined;

  let retryOn = 0;
  let maxRetries: number | undefined;
  const retriableStatusCodes: number[] = [];
  let w = first;
  for (let r = first; r < headers.length; r += 2) {
    const name = headers[r]!;
    const value = headers[r + 1]!;
    if (!CONSUMED.has(name)) {
      headers[w++] = name;
      headers[w++] = value;
      continue;
    }
    if (name === 'x-envoy-retry-on') retryOn |= parseRetryOn(value).bits;
    else if (name === 'x-envoy-max-retries') {
      // absl::SimpleAtoi into a uint64: digits only, surrounding whitespace allowed.
      const trimmed = value.trim();
      if (/^\+?\d+$/.test(trimmed) && Number.isSafeInteger(Number(trimmed))) maxRetries = Number(trimmed);
    } else if (name === 'x-envoy-retriable-status-codes') {
      for (const token of value.split(',')) {
        const code = token.trim();
        if (/^\d+$/.test(code)) retriableStatusCodes.push(Number(code));
      }
    }
  }
  headers.length = w;
  return { retryOn, maxRetries, retriableStatusCodes };
}
