// A configuration mistake, located by its YAML path so the operator can fix it.

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID';

  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `${path}: ${problem}` : problem);
    this.name = 'ConfigError';
  }
}
