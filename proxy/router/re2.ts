import type { ConfigIssue } from '../../xds/config-error';
import type { RegexMatcher, RegexMatchAndSubstitute } from './route-configuration';
import { checkSupportedFields, fieldPath } from './supported-fields';

/**
 * Envoy regexes are RE2. JavaScript's engine differs in syntax (no \A, \z, (?P<n>), [[:alpha:]],
 * \Q…\E, (?i) groups) and in features RE2 deliberately lacks (backreferences, lookaround), so a
 * pattern is translated token by token into an equivalent `u`-mode JS source, and anything that
 * would silently mean something else is rejected.
 */
export interface Re2Translation {
  readonly source: string;
  /** JS flags equivalent to a leading `(?ims)` group (without `u`). */
  readonly flags: string;
  readonly captureGroups: number;
}

/** RE2's repetition limit; JS has none, so larger counts would accept patterns Envoy rejects. */
const MAX_REPEAT = 1000;

// RE2's \s is ASCII [\t\n\f\r ]; JS's \s also matches \v and Unicode spaces.
const RE2_SPACE = '\\t\\n\\f\\r ';

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So',
  'Z', 'Zl', 'Zp', 'Zs',
]);

// Characters `u`-mode JS lets (and needs) a backslash to make literal; `-` only inside [...].
const JS_SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

class Re2SyntaxError extends Error {}

/** Translates an RE2 pattern; throws Re2SyntaxError (message for a config issue) when it can't. */
class Re2Translator {
  private pos = 0;
  private out = '';
  private flags = '';
  private captureGroups = 0;
  private depth = 0;
  /** Whether the last emitted token can take a repetition operator. */
  private repeatable = false;

  constructor(private readonly pattern: string) {}

  translate(): Re2Translation {
    this.leadingFlags();
    const p = this.pattern;
    while (this.pos < p.length) {
      const c = p[this.pos]!;
      switch (c) {
        case '\\':
          this.escape();
          break;
        case '(':
          this.openGroup();
          break;
        case ')':
          if (this.depth === 0) throw new Re2SyntaxError('unexpected )');
          this.depth--;
          this.emit(')', true, 1);
          break;
        case '[':
          this.characterClass();
          break;
        case '*':
        case '+':
        case '?':
          this.repetition(c, 1);
          break;
        case '{': {
          const counted = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(this.pos));
          if (counted) {
            this.countedRepetition(counted);
          } else {
            // RE2 reads a `{` that does not start a valid count as a literal.
            this.emit('\\{', true, 1);
          }
          break;
        }
        case '|':
          this.emit('|', false, 1);
          break;
        case '^':
        case '$':
          this.emit(c, false, 1);
          break;
        case '.':
          this.emit('.', true, 1);
          break;
        default: {
          const literal = String.fromCodePoint(p.codePointAt(this.pos)!);
          this.emit(escapeLiteral(literal), true, literal.length);
        }
      }
    }
    if (this.depth > 0) throw new Re2SyntaxError('missing )');
    return { source: this.out, flags: this.flags, captureGroups: this.captureGroups };
  }

  private emit(js: string, repeatable: boolean, consumed: number): void {
    this.out += js;
    this.repeatable = repeatable;
    this.pos += consumed;
  }

  /** JS (Node 20) has no inline modifiers, so only whole-pattern flags at the start are kept. */
  private leadingFlags(): void {
    let m: RegExpExecArray | null;
    while ((m = /^\(\?([ims]+)\)/.exec(this.pattern.slice(this.pos)))) {
      for (const f of m[1]!) if (!this.flags.includes(f)) this.flags += f;
      this.pos += m[0].length;
    }
  }

  private openGroup(): void {
    const rest = this.pattern.slice(this.pos);
    const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    this.depth++;
    if (named) {
      this.captureGroups++;
      this.emit(`(?<${named[1]}>`, false, named[0].length);
    } else if (rest.startsWith('(?:')) {
      this.emit('(?:', false, 3);
    } else if (/^\(\?<?[=!]/.test(rest)) {
      throw new Re2SyntaxError('lookaround assertions are not supported by RE2');
    } else if (rest.startsWith('(?P=')) {
      throw new Re2SyntaxError('backreferences are not supported by RE2');
    } else if (rest.startsWith('(?')) {
      throw new Re2SyntaxError('inline flags are only supported by meshlet as a leading (?i), (?m) or (?s) group');
    } else {
      this.captureGroups++;
      this.emit('(', false, 1);
    }
  }

  private repetition(op: string, consumed: number): void {
    if (!this.repeatable) {
      throw new Re2SyntaxError(`missing or unsupported argument to repetition operator ${op}`);
    }
    const lazy = this.pattern[this.pos + consumed] === '?';
    this.out += lazy ? `${op}?` : op;
    this.pos += consumed + (lazy ? 1 : 0);
    // RE2 (like Perl) rejects stacked operators such as `a**`.
    this.repeatable = false;
  }

  private countedRepetition(m: RegExpExecArray): void {
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
    if (min > MAX_REPEAT || (max !== undefined && (max > MAX_REPEAT || max < min))) {
      throw new Re2SyntaxError(`bad repetition operator ${m[0]}`);
    }
    this.repetition(m[0], m[0].length);
  }

  private escape(): void {
    const p = this.pattern;
    const c = p[this.pos + 1];
    if (c === undefined) throw new Re2SyntaxError('trailing \\');
    switch (c) {
      case 'A':
        return this.emit('(?<![\\s\\S])', false, 2);
      case 'z':
        return this.emit('(?![\\s\\S])', false, 2);
      case 'b':
      case 'B':
        return this.emit(`\\${c}`, false, 2);
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return this.emit(`\\${c}`, true, 2);
      case 's':
        return this.emit(`[${RE2_SPACE}]`, true, 2);
      case 'S':
        return this.emit(`[^${RE2_SPACE}]`, true, 2);
      case 'p':
      case 'P': {
        const [js, consumed] = this.unicodeClass(false);
        return this.emit(js, true, consumed);
      }
      case 'Q': {
        const end = p.indexOf('\\E', this.pos + 2);
        const literal = p.slice(this.pos + 2, end === -1 ? p.length : end);
        this.out += [...literal].map((c) => escapeLiteral(c)).join('');
        this.pos = end === -1 ? p.length : end + 2;
        // Only the last character of a quoted run is the operand of a following repetition.
        this.repeatable = literal.length > 0;
        return;
      }
      default: {
        const [js, consumed] = this.characterEscape();
        return this.emit(js, true, consumed);
      }
    }
  }

  /** An escape that denotes one character: returns its JS form and the pattern length used. */
  private characterEscape(inClass = false): [string, number] {
    const rest = this.pattern.slice(this.pos);
    const c = rest[1]!;
    let m: RegExpExecArray | null;
    if ((m = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(rest))) return [codePointEscape(parseInt(m[1]!, 16)), m[0].length];
    if ((m = /^\\x([0-9A-Fa-f]{2})/.exec(rest))) return [`\\x${m[1]}`, m[0].length];
    // RE2 octal: \0 plus up to two digits, or a non-zero digit followed by one or two more.
    if ((m = /^\\(0[0-7]{0,2}|[1-7][0-7]{1,2})/.exec(rest))) return [codePointEscape(parseInt(m[1]!, 8)), m[0].length];
    if (/^[1-9]$/.test(c)) throw new Re2SyntaxError('backreferences are not supported by RE2');
    if (c === 'a') return ['\\x07', 2];
    if ('fnrtv'.includes(c)) return [`\\${c}`, 2];
    if (c < '\x80' && !/[A-Za-z0-9]/.test(c)) return [escapeLiteral(c, inClass), 2];
    throw new Re2SyntaxError(`invalid escape sequence \\${c}`);
  }

  /** \pN, \p{Name}, \PN, \p{^Name}: `inClass` drops the brackets `Any` would need. */
  private unicodeClass(inClass: boolean): [string, number] {
    const rest = this.pattern.slice(this.pos);
    const m = /^\\([pP])(?:\{(\^?)([A-Za-z_]+)\}|([A-Za-z]))/.exec(rest);
    if (!m) throw new Re2SyntaxError(`invalid Unicode class ${rest.slice(0, 4)}`);
    const negated = (m[1] === 'P') !== (m[2] === '^');
    const name = m[3] ?? m[4]!;
    if (name === 'Any') {
      if (negated) throw new Re2SyntaxError('a negated \\p{Any} matches nothing');
      return [inClass ? '\\s\\S' : '[\\s\\S]', m[0].length];
    }
    const property = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
    return [`\\${negated ? 'P' : 'p'}{${property}}`, m[0].length];
  }

  private characterClass(): void {
    const p = this.pattern;
    let js = '[';
    this.pos++;
    if (p[this.pos] === '^') {
      js += '^';
      this.pos++;
    }
    let first = true;
    for (;;) {
      if (this.pos >= p.length) throw new Re2SyntaxError('missing ]');
      const c = p[this.pos]!;
      // A `]` right after `[` or `[^` is a literal in RE2 but would close an empty class in JS.
      if (c === ']' && !first) break;
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.pos));
      if (posix) {
        const ranges = POSIX_CLASSES[posix[2]!];
        if (!ranges) throw new Re2SyntaxError(`invalid character class [:${posix[2]}:]`);
        if (posix[1]) throw new Re2SyntaxError('negated POSIX classes inside [...] are not supported by meshlet');
        js += ranges;
        this.pos += posix[0].length;
        continue;
      }
      if (c === '\\') {
        const e = p[this.pos + 1];
        const set = this.classEscapeSet(e);
        if (set !== undefined) {
          js += set;
          if (p[this.pos] === '-' && p[this.pos + 1] !== ']') throw new Re2SyntaxError('bad character class range');
          continue;
        }
      }
      const [low, lowCode] = this.classCharacter();
      if (p[this.pos] === '-' && p[this.pos + 1] !== ']' && this.pos + 1 < p.length) {
        this.pos++;
        const [high, highCode] = this.classCharacter();
        if (highCode < lowCode) throw new Re2SyntaxError('bad character class range');
        js += `${low}-${high}`;
      } else {
        js += low;
      }
    }
    this.pos++;
    this.out += `${js}]`;
    this.repeatable = true;
  }

  /** A set-valued escape inside [...] (\\d, \\s, \\pL, ...), consumed; undefined for a character escape. */
  private classEscapeSet(e: string | undefined): string | undefined {
    let js: string;
    let consumed = 2;
    if (e === 'd' || e === 'D' || e === 'w' || e === 'W') js = `\\${e}`;
    else if (e === 's') js = RE2_SPACE;
    else if (e === 'S') throw new Re2SyntaxError('\\S inside [...] is not supported by meshlet');
    else if (e === 'p' || e === 'P') [js, consumed] = this.unicodeClass(true);
    else return undefined;
    this.pos += consumed;
    return js;
  }

  /** One character inside [...]: its JS form and code point. */
  private classCharacter(): [string, number] {
    const p = this.pattern;
    if (p[this.pos] === '\\') {
      if (p[this.pos + 1] === undefined) throw new Re2SyntaxError('trailing \\');
      const [js, consumed] = this.characterEscape(true);
      const code = decodeCharacterEscape(p.slice(this.pos, this.pos + consumed));
      this.pos += consumed;
      return [js, code];
    }
    const code = p.codePointAt(this.pos)!;
    const literal = String.fromCodePoint(code);
    this.pos += literal.length;
    return [escapeLiteral(literal, true), code];
  }
}

function escapeLiteral(c: string, inClass = false): string {
  if (JS_SYNTAX_CHARS.has(c) || (inClass && c === '-')) return `\\${c}`;
  const code = c.codePointAt(0)!;
  // Control characters are written as escapes so the source stays printable in error messages.
  return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
}

function codePointEscape(code: number): string {
  if (code > 0x10ffff) throw new Re2SyntaxError('invalid code point');
  return `\\u{${code.toString(16)}}`;
}

/** Code point of a single-character RE2 escape, for range validation. */
function decodeCharacterEscape(escape: string): number {
  const body = escape.slice(1);
  if (body.startsWith('x{')) return parseInt(body.slice(2, -1), 16);
  if (body.startsWith('x')) return parseInt(body.slice(1), 16);
  if (/^[0-7]/.test(body)) return parseInt(body, 8);
  const controls: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
  return controls[body] ?? body.codePointAt(0)!;
}

export function translateRe2(pattern: string): Re2Translation | { readonly error: string } {
  try {
    const translation = new Re2Translator(pattern).translate();
    // The engine is the final judge of what the translation produced (e.g. bad group names).
    new RegExp(translation.source, `u${translation.flags}`);
    return translation;
  } catch (e) {
    if (e instanceof Re2SyntaxError || e instanceof SyntaxError) return { error: e.message };
    throw e;
  }
}

function compileRe2(
  matcher: RegexMatcher,
  path: string,
  issues: ConfigIssue[],
): Re2Translation | undefined {
  checkSupportedFields(matcher, 'RegexMatcher', path, issues);
  if (matcher.google_re2 !== undefined) {
    checkSupportedFields(matcher.google_re2, 'GoogleRE2', fieldPath(path, 'google_re2'), issues);
  }
  const regexPath = fieldPath(path, 'regex');
  if (!matcher.regex) {
    issues.push({ path: regexPath, message: 'must not be empty' });
    return undefined;
  }
  const translation = translateRe2(matcher.regex);
  if ('error' in translation) {
    issues.push({ path: regexPath, message: `invalid or unsupported RE2 regex ${JSON.stringify(matcher.regex)}: ${translation.error}` });
    return undefined;
  }
  return translation;
}

/** RE2 FullMatch semantics: the whole input must match. */
export function compileFullMatchRegex(matcher: RegexMatcher, path: string, issues: ConfigIssue[]): RegExp | undefined {
  const t = compileRe2(matcher, path, issues);
  if (!t) return undefined;
  // Under (?m) `^`/`$` would also match at line breaks, so anchor at the text's ends instead.
  const source = t.flags.includes('m') ? `(?<![\\s\\S])(?:${t.source})(?![\\s\\S])` : `^(?:${t.source})$`;
  return new RegExp(source, `u${t.flags}`);
}

/** RE2::GlobalReplace of a RegexMatchAndSubstitute, precompiled to a JS global regex. */
export class RegexSubstitution {
  constructor(
    private readonly regex: RegExp,
    private readonly replacement: string,
  ) {}

  replaceAll(input: string): string {
    return input.replace(this.regex, this.replacement);
  }
}

export function compileRegexSubstitution(
  config: RegexMatchAndSubstitute,
  path: string,
  issues: ConfigIssue[],
): RegexSubstitution | undefined {
  checkSupportedFields(config, 'RegexMatchAndSubstitute', path, issues);
  const patternPath = fieldPath(path, 'pattern');
  if (config.pattern === undefined) {
    issues.push({ path: patternPath, message: 'is required' });
    return undefined;
  }
  const t = compileRe2(config.pattern, patternPath, issues);
  if (!t) return undefined;
  const replacement = translateRewrite(config.substitution ?? '', t.captureGroups);
  if (typeof replacement !== 'string') {
    issues.push({ path: fieldPath(path, 'substitution'), message: replacement.error });
    return undefined;
  }
  return new RegexSubstitution(new RegExp(t.source, `gu${t.flags}`), replacement);
}

/**
 * RE2 rewrite strings use `\N` for groups and `\\` for a backslash; JS uses `$NN` and `$$`.
 * Groups are written with two digits so `\1` followed by a literal `0` stays group 1.
 */
function translateRewrite(rewrite: string, captureGroups: number): string | { error: string } {
  let out = '';
  for (let i = 0; i < rewrite.length; i++) {
    const c = rewrite[i]!;
    if (c === '$') {
      out += '$$';
    } else if (c !== '\\') {
      out += c;
    } else {
      const next = rewrite[++i];
      if (next === '\\') {
        out += '\\';
      } else if (next !== undefined && next >= '0' && next <= '9') {
        const group = Number(next);
        if (group > captureGroups) {
          return { error: `rewrite ${JSON.stringify(rewrite)} references group \\${group} but the pattern has ${captureGroups} capture group(s)` };
        }
        out += group === 0 ? '$&' : `$0${group}`;
      } else {
        return { error: `invalid rewrite ${JSON.stringify(rewrite)}: a backslash must be followed by a digit or a backslash` };
      }
    }
  }
  return out;
}
