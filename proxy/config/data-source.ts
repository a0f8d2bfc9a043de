import { readFileSync } from 'node:fs';
import type { ConfigIssue } from '../../xds/config-error';
import { onlyFields } from './field-support';

/**
 * Envoy's `DataSource` as text: a file (read when the config is parsed, so a missing file is a
 * config error, not a failed handshake later), inline, or an environment variable.
 */
export function parseDataSource(source: any, path: string, issues: ConfigIssue[]): string | undefined {
  if (source === undefined) {
    issues.push({ path, message: 'required' });
    return undefined;
  }
  onlyFields(source, path, ['filename', 'inline_string', 'inline_bytes', 'environment_variable'], issues);
  if (source.filename !== undefined) {
    try {
      return readFileSync(source.filename, 'utf8');
    } catch (err) {
      issues.push({ path: `${path}.filename`, message: `cannot read ${source.filename}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return undefined;
    }
  }
  if (source.inline_string !== undefined) return source.inline_string;
  if (source.inline_bytes !== undefined) return Buffer.from(source.inline_bytes).toString('utf8');
  if (source.environment_variable !== undefined) {
    const value = process.env[source.environment_variable];
    if (value === undefined) issues.push({ path: `${path}.environment_variable`, message: `${source.environment_variable} is not set` });
    return value;
  }
  issues.push({ path, message: 'one of filename, inline_string, inline_bytes, environment_variable is required' });
  return undefined;
}
