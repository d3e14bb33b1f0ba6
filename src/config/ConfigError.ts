// A configuration mistake, located by its YAML path so the operator can fix it.
import { JwtproxyError } from '../util/JwtproxyError';

export class ConfigError extends JwtproxyError {
  readonly code = 'ERR_CONFIG_INVALID';

  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `${path}: ${problem}` : problem);
  }
}
