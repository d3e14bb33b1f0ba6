// A CEL expression (the language of Envoy RBAC, Istio and Kubernetes admission policies),
// compiled once at load. Its variables are the policy inputs: `claims`, `request`, and
// the facts later parts add. A syntax error is a configuration error at the YAML path,
// with the expression's position.
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { ConfigError } from '../config/ConfigError';

// One environment for every expression: it is immutable once built.
const environment = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

export class CelExpression {
  private constructor(
    readonly source: string,
    private readonly program: ParseResult,
  ) {}

  /** Compiles `source`; `path` is where it sits in the YAML, for the error. */
  static compile(source: string, path: string): CelExpression {
    try {
      return new CelExpression(source, environment.parse(source));
    } catch (error) {
      const { message, range } = error as { message: string; range?: { start: number } };
      const at = range ? ` at character ${range.start + 1}` : '';
      throw new ConfigError(path, `is not a valid CEL expression${at}: ${message.split('\n')[0]} (in ${JSON.stringify(source)})`);
    }
  }

  /** The value, or throws an evaluation error (e.g. "No such key" for an absent claim). */
  evaluate(inputs: Record<string, unknown>): unknown {
    return this.program(inputs);
  }
}
