import type { ConfigIssue } from '../../xds/config-error';
import { compileFullMatchRegex } from './re2';
import type { HeaderMatcher as HeaderMatcherConfig, Int64Range } from './route-configuration';
import { isPseudoHeader, requestHeaderValue, type RouteRequest } from './route-request';
import {
  compileStringMatcher,
  ContainsMatcher,
  ExactMatcher,
  PrefixMatcher,
  RegexValueMatcher,
  SuffixMatcher,
  type ValueMatcher,
} from './string-matcher';
import { checkSupportedFields, fieldPath, presentFields } from './supported-fields';

/** absl::SimpleAtoi, which range_match uses, accepts surrounding whitespace and a sign. */
const INTEGER = /^\s*[+-]?\d+\s*$/;

class RangeMatcher implements ValueMatcher {
  constructor(
    private readonly start: number,
    private readonly end: number,
  ) {}
  matches(value: string): boolean {
    if (!INTEGER.test(value)) return false;
    const n = Number(value);
    // Beyond 2^53 the comparison would be approximate; int64 overflow fails to parse in Envoy.
    return Number.isSafeInteger(n) && n >= this.start && n < this.end;
  }
}

/** The legacy exact_match treats an empty expected value as "any value". */
const ANY_VALUE: ValueMatcher = { matches: () => true };

/** A compiled route HeaderMatcher, with Envoy's missing-header and inversion rules. */
export class HeaderMatcher {
  constructor(
    private readonly name: string,
    private readonly pseudo: boolean,
    /** undefined for present_match (and for a matcher with no specifier, which means present). */
    private readonly valueMatcher: ValueMatcher | undefined,
    private readonly present: boolean,
    private readonly invert: boolean,
    private readonly treatMissingAsEmpty: boolean,
  ) {}

  matches(req: RouteRequest): boolean {
    let value = requestHeaderValue(req, this.name, this.pseudo);
    if (value === undefined) {
      if (!this.treatMissingAsEmpty) {
        // Only a presence check can succeed on a missing header.
        return this.valueMatcher === undefined && this.present === this.invert;
      }
      value = '';
    }
    const matched = this.valueMatcher === undefined ? this.present : this.valueMatcher.matches(value);
    return matched !== this.invert;
  }
}

const SPECIFIERS = [
  'exact_match',
  'safe_regex_match',
  'range_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
] as const;

export function compileHeaderMatcher(
  config: HeaderMatcherConfig,
  path: string,
  issues: ConfigIssue[],
): HeaderMatcher | undefined {
  checkSupportedFields(config, 'HeaderMatcher', path, issues);
  if (!config.name) {
    issues.push({ path: fieldPath(path, 'name'), message: 'is required' });
    return undefined;
  }
  const name = config.name.toLowerCase();
  const specifiers = presentFields(config, SPECIFIERS);
  if (specifiers.length > 1) {
    issues.push({ path, message: `at most one of ${SPECIFIERS.join(', ')} may be set` });
    return undefined;
  }
  const specifier = specifiers[0];
  let valueMatcher: ValueMatcher | undefined;
  const specifierPath = specifier && fieldPath(path, specifier);
  switch (specifier) {
    case undefined:
    case 'present_match':
      break;
    case 'exact_match':
      valueMatcher = config.exact_match === '' ? ANY_VALUE : new ExactMatcher(config.exact_match!, false);
      break;
    case 'safe_regex_match': {
      const regex = compileFullMatchRegex(config.safe_regex_match!, specifierPath!, issues);
      if (!regex) return undefined;
      valueMatcher = new RegexValueMatcher(regex);
      break;
    }
    case 'range_match':
      valueMatcher = compileRange(config.range_match!, specifierPath!, issues);
      break;
    case 'prefix_match':
    case 'suffix_match':
    case 'contains_match': {
      const expected = config[specifier]!;
      if (expected === '') {
        issues.push({ path: specifierPath!, message: 'must not be empty; use present_match' });
        return undefined;
      }
      valueMatcher =
        specifier === 'prefix_match'
          ? new PrefixMatcher(expected, false)
          : specifier === 'suffix_match'
            ? new SuffixMatcher(expected, false)
            : new ContainsMatcher(expected, false);
      break;
    }
    case 'string_match':
      valueMatcher = compileStringMatcher(config.string_match!, specifierPath!, issues);
      if (!valueMatcher) return undefined;
      break;
  }
  return new HeaderMatcher(
    name,
    isPseudoHeader(name),
    valueMatcher,
    // A matcher with no specifier checks presence, as in Envoy.
    specifier === 'present_match' ? config.present_match! : true,
    config.invert_match === true,
    config.treat_missing_header_as_empty === true,
  );
}

function compileRange(range: Int64Range, path: string, issues: ConfigIssue[]): ValueMatcher {
  checkSupportedFields(range, 'Int64Range', path, issues);
  return new RangeMatcher(range.start ?? 0, range.end ?? 0);
}
