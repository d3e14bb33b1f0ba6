// How a failed start reaches the operator: once, as a plain line saying what failed and where.
import { ConfigError } from '../config/ConfigError';
import type { Logger } from '../observability/logger';
import type { Config } from './loadConfig';
import { locateStartError } from './preflight';

/** What failed, at the YAML path when the error names a file or address. */
export function startProblem(error: unknown, config: Config): string {
  return error instanceof ConfigError ? error.message : locateStartError(error as Error, config);
}

/** The operator's mistake (the configuration, a file, a port in use: errors with a code), which needs no stack. */
export function isOperatorMistake(error: unknown): boolean {
  return error instanceof ConfigError || typeof (error as NodeJS.ErrnoException).code === 'string';
}

/**
 * Reported once: a plain line on stderr for the operator. A mistake of the operator's (the
 * configuration, a file, a port in use: errors with a code) needs no stack; anything else is
 * a defect, logged with its stack for the record as well.
 */
export function reportStartFailure(logger: Logger, error: unknown, config: Config, problem = startProblem(error, config)): void {
  if (!isOperatorMistake(error)) logger.error({ err: error }, 'failed to start');
  process.stderr.write(`jwtproxy: failed to start: ${problem}\n`);
}
