// A CEL expression (the language of Envoy RBAC, Istio and Kubernetes admission policies),
// compiled once at load. Its variables are the policy inputs: `claims`, `request`, and
// the facts later parts add. A syntax error is a configuration error at the YAML path,
// with the expression's position. An evaluation never holds the event loop past its time
// bound, whatever the request holds: `matches()` is RE2 (linear time), and loops stop at the
// bound; past it the evaluation throws PolicyTimeoutError, which refuses the request.
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { ConfigError } from '../config/ConfigError';
import { PolicyTimeoutError } from './PolicyTimeoutError';
import { Re2Pattern } from './Re2Pattern';

/** The policy time bound when the configuration names none (the documented default). */
export const DEFAULT_POLICY_TIMEOUT_MS = 50;

// The name `x.matches(p)` is rewritten to at load. cel-js declares its own `matches` with a
// backtracking JavaScript RegExp (one request held a worker 10 s) and its declarations are
// frozen, so the calls are pointed at this RE2 one instead; the name cannot be written by
// an operator by accident.
const RE2_MATCHES = 'jwtproxy_re2_matches';

/** The evaluation running now (evaluations are synchronous: one at a time per process). */
let deadline = Infinity;
let boundMs = DEFAULT_POLICY_TIMEOUT_MS;

function checkDeadline(): void {
  if (performance.now() > deadline) throw new PolicyTimeoutError(`the CEL rule ran longer than its ${boundMs}ms bound`);
}

// One environment for every expression: it is immutable once built.
const environment = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
  .registerFunction(`string.${RE2_MATCHES}(string): bool`, (subject: string, pattern: string) => {
    checkDeadline();
    return Re2Pattern.of(pattern, boundMs).test(subject, boundMs);
  })
  // CEL's global form, matches(subject, pattern), which cel-js lacks.
  .registerFunction('matches(string, string): bool', (subject: string, pattern: string) => {
    checkDeadline();
    return Re2Pattern.of(pattern, boundMs).test(subject, boundMs);
  });

interface AstNode {
  op: string;
  args: unknown;
  meta?: { alternate?: unknown; macro?: unknown };
}

interface Comprehension {
  condition?: (accumulator: unknown) => boolean;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && typeof (value as AstNode).op === 'string' && 'args' in value;
}

/**
 * Walks the parsed expression (cel-js 8's AST, pinned in package.json): points `matches` at RE2,
 * checks every literal pattern at load, and makes every comprehension (all, exists, map,
 * filter…) check the deadline before each step — a loop, nested or over a request's split
 * header, is the only way an evaluation's work grows faster than its input.
 */
function prepare(root: unknown, path: string, source: string): void {
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) return value.forEach(visit);
    if (!isNode(value)) return Object.values(value).forEach(visit);
    const node = value;
    if (node.op === 'rcall' || node.op === 'call') {
      const args = node.args as unknown[];
      const receiverCall = node.op === 'rcall';
      const callArgs = (receiverCall ? args[2] : args[1]) as unknown[];
      if (args[0] === 'matches' && callArgs.length === (receiverCall ? 1 : 2)) {
        if (receiverCall) args[0] = RE2_MATCHES;
        const pattern = callArgs[callArgs.length - 1];
        if (isNode(pattern) && pattern.op === 'value' && typeof pattern.args === 'string') {
          const problem = Re2Pattern.problem(pattern.args);
          if (problem) {
            throw new ConfigError(
              path,
              `has the pattern ${JSON.stringify(pattern.args)}, which is not an RE2 regular expression (CEL's matches() is RE2): ${problem}; write it in RE2 syntax (no look-around, no back-references) (in ${JSON.stringify(source)})`,
            );
          }
          Re2Pattern.literal(pattern.args);
        }
      }
    }
    if (node.op === 'comprehension') {
      const comprehension = node.args as Comprehension;
      const original = comprehension.condition;
      comprehension.condition = original ? (accumulator) => (checkDeadline(), original(accumulator)) : () => (checkDeadline(), true);
    }
    visit(node.args);
    if (node.meta?.alternate) visit(node.meta.alternate);
    if (node.meta?.macro) visit(node.meta.macro);
  };
  visit(root);
}

export class CelExpression {
  private constructor(
    readonly source: string,
    private readonly program: ParseResult,
    /** Past this long an evaluation throws PolicyTimeoutError. */
    readonly timeoutMs: number,
  ) {}

  /** Compiles `source`; `path` is where it sits in the YAML, for the error. */
  static compile(source: string, path: string, timeoutMs = DEFAULT_POLICY_TIMEOUT_MS): CelExpression {
    let program: ParseResult;
    try {
      program = environment.parse(source);
    } catch (error) {
      const { message, range } = error as { message: string; range?: { start: number } };
      const at = range ? ` at character ${range.start + 1}` : '';
      throw new ConfigError(path, `is not a valid CEL expression${at}: ${message.split('\n')[0]} (in ${JSON.stringify(source)})`);
    }
    prepare((program as unknown as { ast: unknown }).ast, path, source);
    return new CelExpression(source, program, timeoutMs);
  }

  /**
   * Whether the expression may read the variable `name`: its name appears as a word (in a string
   * literal too, which errs on the safe side: CEL reaches a variable only by its name).
   */
  mentions(name: string): boolean {
    return new RegExp(`\\b${name}\\b`).test(this.source);
  }

  /**
   * The value, or throws an evaluation error (e.g. "No such key" for an absent claim), or
   * PolicyTimeoutError past the time bound.
   */
  evaluate(inputs: Record<string, unknown>): unknown {
    deadline = performance.now() + this.timeoutMs;
    boundMs = this.timeoutMs;
    try {
      return this.program(inputs);
    } finally {
      deadline = Infinity;
    }
  }
}
