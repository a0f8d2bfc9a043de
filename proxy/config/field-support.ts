import type { ConfigIssue } from '../../xds/config-error';

/**
 * Reports every field of a decoded Envoy message that meshlet does not implement.
 * The decoder already rejects fields Envoy does not know; this rejects the valid
 * Envoy config that meshlet would otherwise silently ignore.
 */
export function onlyFields(
  message: object | undefined,
  path: string,
  supported: ReadonlySet<string> | readonly string[],
  issues: ConfigIssue[],
): void {
  if (message === undefined) return;
  const known: ReadonlySet<string> = supported instanceof Set ? supported : new Set(supported);
  for (const [key, value] of Object.entries(message)) {
    if (key === '@type' || value === undefined || known.has(key)) continue;
    issues.push({ path: path === '' ? key : `${path}.${key}`, message: 'not supported by meshlet' });
  }
}
