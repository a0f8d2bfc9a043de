import type { ConfigIssue } from '../../xds/config-error';
import { hasHeader, removeHeader, setHeader, type FlatHeaders } from './flat-headers';
import { compileHeaderValue, type FormattedValue, type HeaderSide } from './header-formatter';
import type { HeaderAppendAction, HeaderMutationFields, HeaderValueOption } from './route-configuration';
import type { HeaderContext } from './route-request';
import { checkSupportedFields, fieldPath } from './supported-fields';

interface HeaderAddition {
  readonly key: string;
  readonly value: string | FormattedValue;
  /** Replace existing values (OVERWRITE_*) rather than append. */
  readonly overwrite: boolean;
  /** ADD_IF_ABSENT needs the header absent, OVERWRITE_IF_EXISTS needs it present. */
  readonly requires: 'absent' | 'present' | undefined;
  readonly keepEmpty: boolean;
}

/**
 * Values decided for the level being applied. Application is synchronous and never re-entered,
 * so one buffer serves every request without allocating.
 */
const decided: (string | undefined)[] = [];

/** The header changes of one level (route configuration, virtual host, route or weighted cluster). */
export class HeaderMutation {
  constructor(
    private readonly removals: readonly string[],
    private readonly additions: readonly HeaderAddition[],
  ) {}

  /**
   * Envoy's order: removals first; then every value and condition is evaluated against the
   * headers as they are at that point; then overwrites, then appends.
   */
  apply(headers: FlatHeaders, ctx: HeaderContext): void {
    for (const name of this.removals) removeHeader(headers, name);
    const additions = this.additions;
    for (let i = 0; i < additions.length; i++) {
      const a = additions[i]!;
      const value = typeof a.value === 'string' ? a.value : a.value.format(headers, ctx);
      const wanted =
        (value !== '' || a.keepEmpty) &&
        (a.requires === undefined || hasHeader(headers, a.key) === (a.requires === 'present'));
      decided[i] = wanted ? value : undefined;
    }
    for (let i = 0; i < additions.length; i++) {
      const value = decided[i];
      if (value !== undefined && additions[i]!.overwrite) setHeader(headers, additions[i]!.key, value);
    }
    for (let i = 0; i < additions.length; i++) {
      const value = decided[i];
      if (value !== undefined && !additions[i]!.overwrite) headers.push(additions[i]!.key, value);
      decided[i] = undefined;
    }
  }
}

export interface HeaderMutations {
  /** undefined when the level changes nothing, so the request path can skip it. */
  readonly request: HeaderMutation | undefined;
  readonly response: HeaderMutation | undefined;
}

export function compileHeaderMutations(level: HeaderMutationFields, path: string, issues: ConfigIssue[]): HeaderMutations {
  return {
    request: compileSide(level.request_headers_to_add, level.request_headers_to_remove, 'request', path, issues),
    response: compileSide(level.response_headers_to_add, level.response_headers_to_remove, 'response', path, issues),
  };
}

/**
 * Pseudo-headers and host are refused, as in Envoy: other parts of the route (rewrites,
 * host_rewrite_*) own them, and removing them would leave a malformed request.
 */
function isProtectedHeader(name: string): boolean {
  return name.startsWith(':') || name === 'host';
}

function compileSide(
  toAdd: readonly HeaderValueOption[] | undefined,
  toRemove: readonly string[] | undefined,
  side: HeaderSide,
  path: string,
  issues: ConfigIssue[],
): HeaderMutation | undefined {
  const removals: string[] = [];
  (toRemove ?? []).forEach((raw, i) => {
    const name = raw.toLowerCase();
    const at = fieldPath(path, `${side}_headers_to_remove[${i}]`);
    if (name === '') issues.push({ path: at, message: 'must not be empty' });
    else if (isProtectedHeader(name)) issues.push({ path: at, message: ':-prefixed or host headers may not be removed' });
    else removals.push(name);
  });
  const additions: HeaderAddition[] = [];
  (toAdd ?? []).forEach((option, i) => {
    const addition = compileAddition(option, side, fieldPath(path, `${side}_headers_to_add[${i}]`), issues);
    if (addition) additions.push(addition);
  });
  return removals.length === 0 && additions.length === 0 ? undefined : new HeaderMutation(removals, additions);
}

function compileAddition(
  option: HeaderValueOption,
  side: HeaderSide,
  path: string,
  issues: ConfigIssue[],
): HeaderAddition | undefined {
  checkSupportedFields(option, 'HeaderValueOption', path, issues);
  const headerPath = fieldPath(path, 'header');
  if (option.header === undefined) {
    issues.push({ path: headerPath, message: 'is required' });
    return undefined;
  }
  checkSupportedFields(option.header, 'HeaderValue', headerPath, issues);
  const key = (option.header.key ?? '').toLowerCase();
  if (key === '') {
    issues.push({ path: fieldPath(headerPath, 'key'), message: 'is required' });
    return undefined;
  }
  if (isProtectedHeader(key)) {
    issues.push({ path: fieldPath(headerPath, 'key'), message: ':-prefixed or host headers may not be modified' });
    return undefined;
  }
  const action = appendAction(option, path, issues);
  const value = compileHeaderValue(option.header.value ?? '', side, fieldPath(headerPath, 'value'), issues);
  if (action === undefined || value === undefined) return undefined;
  return {
    key,
    value,
    overwrite: action === 'OVERWRITE_IF_EXISTS_OR_ADD' || action === 'OVERWRITE_IF_EXISTS',
    requires: action === 'ADD_IF_ABSENT' ? 'absent' : action === 'OVERWRITE_IF_EXISTS' ? 'present' : undefined,
    keepEmpty: option.keep_empty_value === true,
  };
}

const APPEND_ACTIONS: readonly string[] = [
  'APPEND_IF_EXISTS_OR_ADD',
  'ADD_IF_ABSENT',
  'OVERWRITE_IF_EXISTS_OR_ADD',
  'OVERWRITE_IF_EXISTS',
] satisfies HeaderAppendAction[];

/** The deprecated `append` maps onto append_action; Envoy refuses the two together. */
function appendAction(option: HeaderValueOption, path: string, issues: ConfigIssue[]): HeaderAppendAction | undefined {
  const action = option.append_action ?? 'APPEND_IF_EXISTS_OR_ADD';
  if (!APPEND_ACTIONS.includes(action)) {
    issues.push({ path: fieldPath(path, 'append_action'), message: `unknown value ${JSON.stringify(action)}` });
    return undefined;
  }
  if (option.append === undefined) return action;
  if (action !== 'APPEND_IF_EXISTS_OR_ADD') {
    issues.push({ path: fieldPath(path, 'append'), message: 'both append and append_action are set' });
    return undefined;
  }
  return option.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
}
