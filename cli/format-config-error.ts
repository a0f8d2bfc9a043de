import type { ConfigError } from '../xds/config-error';

/** Every issue of a config file, one `path: message` line each, for a person at a terminal. */
export function formatConfigError(file: string, err: ConfigError): string {
  const lines = err.issues.map((i) => `  ${i.path || '(document)'}: ${i.message}\n`);
  return `meshlet: ${file}: ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'}\n${lines.join('')}`;
}
