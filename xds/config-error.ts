/** One problem in a configuration, located by the path of the offending field. */
export interface ConfigIssue {
  /** Dotted path with indexes, e.g. `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix`. */
  readonly path: string;
  readonly message: string;
}

/**
 * A configuration (bootstrap file or xDS resource) that cannot be applied.
 * It carries every issue found, so `--validate` and xDS NACKs can report them all at once.
 */
export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n'));
    this.name = 'ConfigError';
  }
}
