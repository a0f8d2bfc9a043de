import type { ConfigIssue } from '../../xds/config-error';
import type { DirectResponseAction } from './route-configuration';
import { checkSupportedFields, fieldPath } from './supported-fields';

/** Envoy's default for RouteConfiguration.max_direct_response_body_size_bytes. */
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

export interface DirectResponse {
  readonly status: number;
  /** Shared by every response of the route: callers must not modify it. */
  readonly body: Buffer;
}

export function compileDirectResponse(
  config: DirectResponseAction,
  maxBodyBytes: number,
  path: string,
  issues: ConfigIssue[],
): DirectResponse | undefined {
  checkSupportedFields(config, 'DirectResponseAction', path, issues);
  const status = config.status;
  if (status === undefined || !Number.isInteger(status) || status < 200 || status > 599) {
    issues.push({ path: fieldPath(path, 'status'), message: 'must be an HTTP status in [200, 599]' });
    return undefined;
  }
  let body: Buffer = Buffer.alloc(0);
  if (config.body !== undefined) {
    const bodyPath = fieldPath(path, 'body');
    checkSupportedFields(config.body, 'DataSource', bodyPath, issues);
    if (config.body.inline_bytes !== undefined && config.body.inline_string !== undefined) {
      issues.push({ path: bodyPath, message: 'at most one of inline_bytes, inline_string may be set' });
      return undefined;
    }
    body = config.body.inline_bytes ?? Buffer.from(config.body.inline_string ?? '');
    if (body.length > maxBodyBytes) {
      issues.push({
        path: bodyPath,
        message: `is ${body.length} bytes; the maximum is ${maxBodyBytes} (max_direct_response_body_size_bytes)`,
      });
      return undefined;
    }
  }
  return { status, body };
}
