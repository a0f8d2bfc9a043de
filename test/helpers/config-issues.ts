import { ConfigError, type ConfigIssue } from '../../xds/config-error';

/** The issues of the ConfigError `fn` throws; any other outcome fails the test. */
export function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('expected a ConfigError, but decoding succeeded');
}
