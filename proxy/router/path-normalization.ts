/**
 * Envoy's request path normalization (HttpConnectionManager `normalize_path`, `merge_slashes`,
 * `path_with_escaped_slashes_action`), which runs before routing and RBAC so that they, and the
 * upstream, all see one path. The steps and their order are ConnectionManagerUtility::
 * maybeNormalizePath's; the RFC 3986 step is PathUtil::canonicalPath, i.e. Chromium's
 * url::CanonicalizePath (url/url_canon_path.cc), ported here byte for byte.
 */

export type EscapedSlashesAction = 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';

export interface PathNormalizationConfig {
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashesAction: EscapedSlashesAction;
}

/** From the decoded HCM (normalized decoder output: snake_case fields, enums as names); unknown enum values cannot occur (the decoder checks). */
export function pathNormalizationConfig(hcm: {
  normalize_path?: boolean;
  merge_slashes?: boolean;
  path_with_escaped_slashes_action?: string;
}): PathNormalizationConfig {
  const action = hcm.path_with_escaped_slashes_action;
  return {
    normalizePath: hcm.normalize_path === true,
    mergeSlashes: hcm.merge_slashes === true,
    // Envoy's IMPLEMENTATION_SPECIFIC_DEFAULT, like an unset field, is KEEP_UNCHANGED.
    escapedSlashesAction:
      action === undefined || action === 'IMPLEMENTATION_SPECIFIC_DEFAULT' ? 'KEEP_UNCHANGED' : (action as EscapedSlashesAction),
  };
}

export type NormalizedPath =
  | { readonly kind: 'ok'; readonly path: string }
  | { readonly kind: 'reject'; readonly reason: string }
  | { readonly kind: 'redirect'; readonly path: string };

// Envoy answers every refusal here with 400 and this response code detail.
const REJECTED: NormalizedPath = { kind: 'reject', reason: 'path_normalization_failed' };

/**
 * `path` is the request target's path (no query). Returns the same string object when nothing changes (the common case must not allocate).
 *
 * A redirect's path is the fully normalized one (Envoy answers 307 with it, plus the query, as
 * Location); the query is the caller's and is never touched here. `path` holds one byte per char,
 * as Node's HTTP parsers deliver it, so a char above 0xFF cannot come from the wire: normalize_path
 * refuses it rather than guess an encoding.
 */
export function normalizePath(path: string, config: PathNormalizationConfig): NormalizedPath {
  const canonical = config.normalizePath;
  const merge = config.mergeSlashes;
  const action = config.escapedSlashesAction;
  const unescape = action !== 'KEEP_UNCHANGED';
  if ((!canonical && !merge && !unescape) || !mayChange(path, canonical, merge, unescape)) return { kind: 'ok', path };

  let result = path;
  let redirect = false;
  if (unescape) {
    const unescaped = unescapeSlashes(result);
    if (unescaped !== result) {
      if (action === 'REJECT_REQUEST') return REJECTED;
      // Envoy redirects to the path as the later steps leave it, so they still run.
      redirect = action === 'UNESCAPE_AND_REDIRECT';
      result = unescaped;
    }
  }
  if (canonical) {
    const canonicalized = canonicalize(result);
    if (canonicalized === undefined) return REJECTED;
    result = canonicalized;
  }
  // Last, as in Envoy, so that runs of slashes the other steps leave ("/a%2F/b") are merged too.
  if (merge) result = mergeSlashes(result);
  if (redirect) return { kind: 'redirect', path: result };
  return { kind: 'ok', path: result === path ? path : result };
}

const NUL = 0x00;
const PERCENT = 0x25;
const DOT = 0x2e;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const BACKSLASH = 0x5c;
const TWO = 0x32;
const FIVE = 0x35;
const HEX_DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');
const NO_INVALID_PERCENT = Number.NEGATIVE_INFINITY;

// Chromium's kPathCharLookup flags. SPECIAL marks what DoPartialPath cannot copy as is.
const SPECIAL = 1;
const ESCAPE = 2 | SPECIAL;
const UNESCAPE = 4;
const INVALID = 8 | SPECIAL;
const INVALID_BIT = 8;

/** Chromium's kPathCharLookup: what canonicalization does with each byte, raw or percent-decoded. */
const PATH_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    if (c === NUL) table[c] = INVALID;
    else if (c <= 0x20 || c >= 0x7f || '"#%<>?\\^`{|}'.includes(ch)) table[c] = ESCAPE;
    else if (/[-0-9A-Za-z_~]/.test(ch)) table[c] = UNESCAPE;
    // '.' needs its own handling; the escaped form is recognized by dotAt.
    else if (c === DOT) table[c] = SPECIAL;
  }
  return table;
})();

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/** The byte a valid "%XY" at `i` encodes, or -1 (Chromium's DecodeEscaped). */
function escapedByte(s: string, i: number): number {
  if (i + 2 >= s.length) return -1;
  const high = hexValue(s.charCodeAt(i + 1));
  const low = hexValue(s.charCodeAt(i + 2));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/** Chromium's IsDot: the length of a dot at `i`, literal (1) or "%2e" either case (3); 0 when none. */
function dotAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === DOT) return 1;
  if (c === PERCENT && i + 3 <= s.length && s.charCodeAt(i + 1) === TWO && (s.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

/**
 * Where the input after a "." or ".." segment resumes when `k`, just past its dots, ends the
 * segment: at the path's end, past a slash or backslash (Chromium), or past the segment's path
 * parameters up to the next slash, which Envoy strips from dot segments ("/..;x/" is "/../", so
 * backends that drop parameters cannot be sent above the path RBAC checked). -1 when the dots only
 * begin a longer name.
 */
function dotSegmentEnd(s: string, k: number): number {
  if (k === s.length) return k;
  const c = s.charCodeAt(k);
  if (c === SLASH || c === BACKSLASH) return k + 1;
  if (c !== SEMICOLON) return -1;
  const slash = s.indexOf('/', k);
  return slash === -1 ? s.length : slash + 1;
}

/**
 * The single scan that keeps the common case free: whether any enabled step could change `path`.
 * Exact, not a heuristic: when it says no, every step would return its input.
 */
function mayChange(path: string, canonical: boolean, merge: boolean, unescape: boolean): boolean {
  // Canonicalization gives every path a leading slash ('' too).
  if (canonical && path.charCodeAt(0) !== SLASH) return true;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH) {
      if (merge && path.charCodeAt(i + 1) === SLASH) return true;
      // A dot right after a slash is a "." or ".." segment unless more of a name follows.
      if (canonical && path.charCodeAt(i + 1) === DOT) {
        if (dotSegmentEnd(path, i + 2) !== -1) return true;
        if (path.charCodeAt(i + 2) === DOT && dotSegmentEnd(path, i + 3) !== -1) return true;
      }
    } else if (c === PERCENT) {
      // A '%' that begins no valid escape is copied as is (what follows it is checked on its own).
      const byte = escapedByte(path, i);
      if (byte < 0) continue;
      if (unescape && (byte === SLASH || byte === BACKSLASH)) return true;
      if (canonical && (byte === DOT || (PATH_CHARS[byte]! & (UNESCAPE | INVALID_BIT)) !== 0)) return true;
    } else if (canonical && c !== DOT && (c > 0xff || (PATH_CHARS[c]! & SPECIAL) !== 0)) {
      // A backslash, a byte Chromium escapes, or one it refuses.
      return true;
    }
  }
  return false;
}

const ESCAPED_SLASH = /%2f|%5c/gi;

/** PathUtil::unescapeSlashes: %2F and %5C, either case, become '/' and '\'. */
function unescapeSlashes(path: string): string {
  return path.replace(ESCAPED_SLASH, (escape) => (escape.charCodeAt(1) === TWO ? '/' : '\\'));
}

const SLASH_RUN = /\/{2,}/g;

/** PathUtil::mergeSlashes. */
function mergeSlashes(path: string): string {
  if (!path.includes('//')) return path;
  const merged = path.replace(SLASH_RUN, '/');
  // Envoy joins the non-empty segments between a leading and a trailing slash, so a path made of
  // slashes alone keeps two.
  return merged === '/' ? '//' : merged;
}

/**
 * Chromium's url::CanonicalizePath (DoPath and DoPartialPath): a leading slash, backslashes as
 * slashes, "." and ".." segments (also as %2e) resolved without climbing above the root,
 * percent-encodings of unreserved characters decoded and other valid ones kept with their hex case,
 * bytes outside the path character set percent-encoded. Undefined, as Chromium fails, for NUL raw
 * or as %00 (and for chars above 0xFF, see normalizePath).
 */
function canonicalize(s: string): string | undefined {
  const end = s.length;
  // At most three output bytes per input char, plus the leading slash.
  const out = Buffer.allocUnsafe(end * 3 + 1);
  let n = 0;
  const first = s.charCodeAt(0);
  if (first !== SLASH && first !== BACKSLASH) out[n++] = SLASH;
  let lastInvalidPercent = NO_INVALID_PERCENT;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return undefined;
    const flags = PATH_CHARS[c]!;
    if ((flags & SPECIAL) === 0) {
      out[n++] = c;
      continue;
    }
    const dotLength = dotAt(s, i);
    if (dotLength > 0) {
      // Only a dot right after a slash can begin a dot segment; the output always starts with one.
      if (out[n - 1] === SLASH) {
        const afterDot = i + dotLength;
        const current = dotSegmentEnd(s, afterDot);
        if (current !== -1) {
          i = current - 1;
          continue;
        }
        const secondDot = dotAt(s, afterDot);
        const parent = secondDot > 0 ? dotSegmentEnd(s, afterDot + secondDot) : -1;
        if (parent !== -1) {
          n = backUpToPreviousSlash(out, n);
          i = parent - 1;
          continue;
        }
      }
      out[n++] = DOT;
      i += dotLength - 1;
    } else if (c === BACKSLASH) {
      out[n++] = SLASH;
    } else if (c === PERCENT) {
      const byte = escapedByte(s, i);
      if (byte < 0) {
        // Passed through, as browsers other than IE do; remembered for the nested-escape check.
        lastInvalidPercent = n;
        out[n++] = PERCENT;
      } else if ((PATH_CHARS[byte]! & UNESCAPE) !== 0) {
        out[n++] = byte;
        i += 2;
        // Like Chromium, the index is not reset when ".." backs up over it, so the output matches
        // Envoy's byte for byte even then.
        if (lastInvalidPercent >= n - 3) n = escapeNestedPercent(s, i + 1, lastInvalidPercent, out, n);
      } else {
        if ((PATH_CHARS[byte]! & INVALID_BIT) !== 0) return undefined;
        // Kept with its hex case: some servers are sensitive to it (and Envoy keeps it).
        out[n++] = PERCENT;
        out[n++] = s.charCodeAt(i + 1);
        out[n++] = s.charCodeAt(i + 2);
        i += 2;
      }
    } else if ((flags & INVALID_BIT) !== 0) {
      return undefined;
    } else {
      out[n++] = PERCENT;
      out[n++] = HEX_DIGITS[c >> 4]!;
      out[n++] = HEX_DIGITS[c & 15]!;
    }
  }
  return out.toString('latin1', 0, n);
}

/**
 * Chromium's BackUpToPreviousSlash: drops the last segment of output that ends with a slash,
 * stopping at the root. Returns the new output length.
 */
function backUpToPreviousSlash(out: Buffer, n: number): number {
  let i = n - 1;
  if (i === 0) return n;
  do i--;
  while (i > 0 && out[i] !== SLASH);
  return i + 1;
}

/**
 * Chromium's CheckForNestedEscapes. A byte was just decoded within two bytes after a '%' that began
 * no valid escape ("%%30" gives "%0"); if that '%' now begins one (with the decoded byte and maybe
 * the next input char), a second pass would decode it, so it becomes "%25": normalizing twice then
 * changes nothing more. Returns the new output length.
 */
function escapeNestedPercent(s: string, next: number, percentAt: number, out: Buffer, n: number): number {
  const decoded = out[n - 1]!;
  const appendNext = percentAt === n - 2;
  let length = n;
  if (appendNext) {
    // Only an ASCII char can complete an escape.
    if (next === s.length || s.charCodeAt(next) >= 0x80) return n;
    out[length++] = s.charCodeAt(next);
  }
  if (percentAt + 3 > length || hexValue(out[percentAt + 1]!) < 0 || hexValue(out[percentAt + 2]!) < 0) return n;
  if (!appendNext) out[length++] = out[percentAt + 1]!;
  out[percentAt + 1] = TWO;
  out[percentAt + 2] = FIVE;
  out[length++] = decoded;
  return length;
}
