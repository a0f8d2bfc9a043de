import type { ConfigIssue } from '../../xds/config-error';
import { compileFullMatchRegex } from './re2';
import type { StringMatcher } from './route-configuration';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

/** A compiled envoy.type.matcher.v3.StringMatcher (also used for route paths, as Envoy does). */
export interface ValueMatcher {
  matches(value: string): boolean;
}

// Envoy's ignore_case is ASCII-only (absl::EqualsIgnoreCase and friends), so Unicode case
// mapping via toLowerCase() would match more than Envoy does. Expected values are lowered at
// compile time; only the request side is folded here, without allocating.
function lowerAscii(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

function regionEqualsIgnoreCase(value: string, offset: number, lowered: string): boolean {
  for (let i = 0; i < lowered.length; i++) {
    if (lowerAscii(value.charCodeAt(offset + i)) !== lowered.charCodeAt(i)) return false;
  }
  return true;
}

function lowerAsciiString(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export class ExactMatcher implements ValueMatcher {
  private readonly expected: string;
  constructor(expected: string, private readonly ignoreCase: boolean) {
    this.expected = ignoreCase ? lowerAsciiString(expected) : expected;
  }
  matches(value: string): boolean {
    if (!this.ignoreCase) return value === this.expected;
    return value.length === this.expected.length && regionEqualsIgnoreCase(value, 0, this.expected);
  }
}

export class PrefixMatcher implements ValueMatcher {
  private readonly prefix: string;
  constructor(prefix: string, private readonly ignoreCase: boolean) {
    this.prefix = ignoreCase ? lowerAsciiString(prefix) : prefix;
  }
  matches(value: string): boolean {
    if (!this.ignoreCase) return value.startsWith(this.prefix);
    return value.length >= this.prefix.length && regionEqualsIgnoreCase(value, 0, this.prefix);
  }
}

export class SuffixMatcher implements ValueMatcher {
  private readonly suffix: string;
  constructor(suffix: string, private readonly ignoreCase: boolean) {
    this.suffix = ignoreCase ? lowerAsciiString(suffix) : suffix;
  }
  matches(value: string): boolean {
    if (!this.ignoreCase) return value.endsWith(this.suffix);
    const offset = value.length - this.suffix.length;
    return offset >= 0 && regionEqualsIgnoreCase(value, offset, this.suffix);
  }
}

export class ContainsMatcher implements ValueMatcher {
  private readonly part: string;
  constructor(part: string, private readonly ignoreCase: boolean) {
    this.part = ignoreCase ? lowerAsciiString(part) : part;
  }
  matches(value: string): boolean {
    if (!this.ignoreCase) return value.includes(this.part);
    for (let offset = 0; offset + this.part.length <= value.length; offset++) {
      if (regionEqualsIgnoreCase(value, offset, this.part)) return true;
    }
    return false;
  }
}

export class RegexValueMatcher implements ValueMatcher {
  constructor(private readonly regex: RegExp) {}
  matches(value: string): boolean {
    return this.regex.test(value);
  }
}

// The whole oneof, including `custom`, which meshlet reports as unsupported.
const PATTERNS = ['exact', 'prefix', 'suffix', 'safe_regex', 'contains', 'custom'] as const;

export function compileStringMatcher(
  config: StringMatcher,
  path: string,
  issues: ConfigIssue[],
): ValueMatcher | undefined {
  checkSupportedFields(config, 'StringMatcher', path, issues);
  const present = presentFields(config, PATTERNS);
  if (present.length !== 1) {
    issues.push({ path, message: `exactly one of ${PATTERNS.join(', ')} is required` });
    return undefined;
  }
  const ignoreCase = config.ignore_case === true;
  const pattern = present[0]!;
  if (pattern === 'custom') return undefined;
  if (pattern === 'safe_regex') {
    if (ignoreCase) {
      // Envoy refuses this combination rather than ignoring ignore_case.
      issues.push({ path: fieldPath(path, 'ignore_case'), message: 'has no effect for safe_regex' });
      return undefined;
    }
    const regex = compileFullMatchRegex(config.safe_regex!, fieldPath(path, 'safe_regex'), issues);
    return regex && new RegexValueMatcher(regex);
  }
  const value = config[pattern]!;
  if (value === '' && pattern !== 'exact') {
    issues.push({ path: fieldPath(path, pattern), message: 'must not be empty' });
    return undefined;
  }
  switch (pattern) {
    case 'exact':
      return new ExactMatcher(value, ignoreCase);
    case 'prefix':
      return new PrefixMatcher(value, ignoreCase);
    case 'suffix':
      return new SuffixMatcher(value, ignoreCase);
    case 'contains':
      return new ContainsMatcher(value, ignoreCase);
  }
}
