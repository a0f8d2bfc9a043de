import { hostname } from 'node:os';
import type { ConfigIssue } from '../../xds/config-error';
import { firstHeaderValue } from './flat-headers';
import { isPseudoHeader, pseudoHeaderValue, type HeaderContext, type PseudoHeader } from './route-request';

/** Which header map a value is added to: it decides what %REQ% reads and what is available. */
export type HeaderSide = 'request' | 'response';

type Operator =
  | 'DOWNSTREAM_REMOTE_ADDRESS'
  | 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT'
  | 'DOWNSTREAM_LOCAL_ADDRESS'
  | 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT'
  | 'PROTOCOL'
  | 'START_TIME'
  | 'UPSTREAM_REMOTE_ADDRESS';

const OPERATORS: ReadonlySet<string> = new Set<Operator>([
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'PROTOCOL',
  'START_TIME',
  'UPSTREAM_REMOTE_ADDRESS',
]);

interface OperatorPart {
  readonly kind: 'operator';
  readonly op: Operator;
}

/** %REQ(name?alternate):maxLength% */
interface RequestHeaderPart {
  readonly kind: 'request_header';
  readonly name: string;
  readonly pseudo: boolean;
  readonly alternate: string | undefined;
  readonly alternatePseudo: boolean;
  readonly maxLength: number | undefined;
}

type Part = string | OperatorPart | RequestHeaderPart;

// Envoy's command syntax: NAME, optional (ARGS), optional :LENGTH, closing %.
const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y;

/** A header value with command operators, parsed once; `format` only reads context and concatenates. */
export class FormattedValue {
  constructor(
    private readonly parts: readonly Part[],
    private readonly side: HeaderSide,
  ) {}

  /** `headers` is the map being mutated; on the request side %REQ% reads it, as Envoy does. */
  format(headers: readonly string[], ctx: HeaderContext): string {
    let out = '';
    for (const part of this.parts) {
      if (typeof part === 'string') out += part;
      else if (part.kind === 'operator') out += operatorValue(part.op, ctx);
      else out += this.requestHeader(part, headers, ctx);
    }
    return out;
  }

  private requestHeader(operand: RequestHeaderPart, headers: readonly string[], ctx: HeaderContext): string {
    const requestHeaders = this.side === 'request' ? headers : ctx.request.headers;
    let value = headerOrPseudo(operand.name, operand.pseudo, requestHeaders, ctx);
    if (value === undefined && operand.alternate !== undefined) {
      value = headerOrPseudo(operand.alternate, operand.alternatePseudo, requestHeaders, ctx);
    }
    if (value === undefined) return '';
    return operand.maxLength === undefined ? value : value.slice(0, operand.maxLength);
  }
}

function headerOrPseudo(name: string, pseudo: boolean, headers: readonly string[], ctx: HeaderContext): string | undefined {
  return pseudo ? pseudoHeaderValue(ctx.request, name as PseudoHeader) : firstHeaderValue(headers, name);
}

function operatorValue(op: Operator, ctx: HeaderContext): string {
  switch (op) {
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return addressWithPort(ctx.downstreamRemoteAddress, ctx.downstreamRemotePort);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return ctx.downstreamRemoteAddress;
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return addressWithPort(ctx.downstreamLocalAddress, ctx.downstreamLocalPort);
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return ctx.downstreamLocalAddress;
    case 'PROTOCOL':
      return ctx.protocol;
    case 'START_TIME':
      // Envoy's default START_TIME format, %Y-%m-%dT%H:%M:%E3SZ, is ISO 8601 in UTC.
      return new Date(ctx.startTimeMs).toISOString();
    case 'UPSTREAM_REMOTE_ADDRESS':
      return ctx.upstreamRemoteAddress === undefined
        ? ''
        : addressWithPort(ctx.upstreamRemoteAddress, ctx.upstreamRemotePort ?? 0);
  }
}

function addressWithPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Parses a header value. Values without operators come back as the string itself, so adding
 * them costs nothing per request; `%HOSTNAME%` is constant per process and folded in here.
 */
export function compileHeaderValue(
  value: string,
  side: HeaderSide,
  path: string,
  issues: ConfigIssue[],
): string | FormattedValue | undefined {
  if (!value.includes('%')) return value;
  const parts: Part[] = [];
  let literal = '';
  let pos = 0;
  let valid = true;
  while (pos < value.length) {
    const percent = value.indexOf('%', pos);
    if (percent === -1) {
      literal += value.slice(pos);
      break;
    }
    literal += value.slice(pos, percent);
    if (value[percent + 1] === '%') {
      literal += '%';
      pos = percent + 2;
      continue;
    }
    COMMAND.lastIndex = percent;
    const m = COMMAND.exec(value);
    if (!m) {
      issues.push({ path, message: `invalid command operator at position ${percent} (write %% for a literal %)` });
      return undefined;
    }
    pos = percent + m[0].length;
    const part = compileCommand(m[0], m[1]!, m[2], m[3], side, path, issues);
    if (part === undefined) {
      valid = false;
    } else if (part === 'HOSTNAME') {
      literal += hostname();
    } else {
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push(part);
    }
  }
  if (!valid) return undefined;
  if (literal !== '') parts.push(literal);
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return new FormattedValue(parts, side);
}

function compileCommand(
  command: string,
  name: string,
  args: string | undefined,
  maxLength: string | undefined,
  side: HeaderSide,
  path: string,
  issues: ConfigIssue[],
): Part | 'HOSTNAME' | undefined {
  const fail = (message: string): undefined => {
    issues.push({ path, message: `${command}: ${message}` });
    return undefined;
  };
  if (name === 'REQ') {
    if (args === undefined || args === '') return fail('needs a header name, as in %REQ(x-name)%');
    const [header, alternate, extra] = args.toLowerCase().split('?');
    if (extra !== undefined || header === '' || alternate === '') return fail('expects %REQ(name)% or %REQ(name?alternate)%');
    return {
      kind: 'request_header',
      name: header!,
      pseudo: isPseudoHeader(header!),
      alternate,
      alternatePseudo: alternate !== undefined && isPseudoHeader(alternate),
      maxLength: maxLength === undefined ? undefined : Number(maxLength),
    };
  }
  if (name !== 'HOSTNAME' && !OPERATORS.has(name)) return fail('unknown command operator (not supported by meshlet)');
  if (args !== undefined || maxLength !== undefined) return fail('takes no arguments or length in meshlet');
  if (name === 'UPSTREAM_REMOTE_ADDRESS' && side === 'request') {
    return fail('is only available in response headers');
  }
  return name === 'HOSTNAME' ? name : { kind: 'operator', op: name as Operator };
}
