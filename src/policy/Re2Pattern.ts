// CEL's regular expressions: RE2 syntax and semantics (re2js, the pure-JavaScript port of
// RE2), so a match costs time linear in the subject — at most (program size × subject
// length) steps, which is checked against the time bound before the match runs. Patterns
// are compiled once: those written in a rule at load, those a request supplies in a small
// cache of their own.
import { RE2JS } from 're2js';
import { PolicyTimeoutError } from './PolicyTimeoutError';

/**
 * RE2's NFA simulation steps (program instructions × subject characters) per millisecond,
 * counted low: ~140 000 were measured on a shared 2-core machine (a 1 002-instruction
 * `[a-z]{1000}` over 16 000 characters took 88 ms); a quarter of that keeps a match refused
 * past the bound from running past it on a machine four times slower.
 */
const STEPS_PER_MS = 35_000;
/**
 * A pattern that comes from the request (or a claim) rather than the rule: compiling costs
 * ~9 µs per instruction and counted repetition multiplies instructions, so such patterns are
 * short and have no `{n,m}`.
 */
const MAX_DYNAMIC_PATTERN_LENGTH = 256;
const MAX_DYNAMIC_PATTERNS = 256;

const literals = new Map<string, Re2Pattern>();
const dynamic = new Map<string, Re2Pattern>();

export class Re2Pattern {
  private constructor(
    readonly source: string,
    private readonly regex: RE2JS,
    /** Instructions of the compiled program: a match costs at most this per subject character. */
    private readonly size: number,
  ) {}

  private static compile(source: string): Re2Pattern {
    const regex = RE2JS.compile(source);
    const program = (regex as unknown as { re2Input: { prog: { inst: unknown[] } } }).re2Input.prog;
    return new Re2Pattern(source, regex, program.inst.length);
  }

  /** Why `source` is not an RE2 pattern, or undefined when it is. */
  static problem(source: string): string | undefined {
    try {
      RE2JS.compile(source);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /** A pattern written in a rule: compiled at load and kept (the rules are few). */
  static literal(source: string): Re2Pattern {
    let pattern = literals.get(source);
    if (!pattern) literals.set(source, (pattern = Re2Pattern.compile(source)));
    return pattern;
  }

  /** The pattern for `source` at evaluation: a rule's, or one the request supplied (bounded). */
  static of(source: string, boundMs: number): Re2Pattern {
    const known = literals.get(source) ?? dynamic.get(source);
    if (known) return known;
    if (source.length > MAX_DYNAMIC_PATTERN_LENGTH || /\{\s*\d/.test(source)) {
      throw new PolicyTimeoutError(
        `a pattern taken from the request is over ${MAX_DYNAMIC_PATTERN_LENGTH} characters or uses counted repetition {n,m}; compiling it could run past the ${boundMs}ms bound`,
      );
    }
    let pattern: Re2Pattern;
    try {
      pattern = Re2Pattern.compile(source);
    } catch (error) {
      throw new Error(`Invalid regular expression: ${source}: ${(error as Error).message}`);
    }
    if (dynamic.size >= MAX_DYNAMIC_PATTERNS) dynamic.delete(dynamic.keys().next().value as string);
    dynamic.set(source, pattern);
    return pattern;
  }

  /**
   * Whether the pattern matches anywhere in `subject` (CEL: unanchored). Throws
   * PolicyTimeoutError, before any work, when the worst case could exceed `boundMs`.
   */
  test(subject: string, boundMs: number): boolean {
    if (this.size * (subject.length + 1) > boundMs * STEPS_PER_MS) {
      throw new PolicyTimeoutError(`matching ${JSON.stringify(this.source)} (${this.size} RE2 instructions) over ${subject.length} characters could run past the ${boundMs}ms bound`);
    }
    return this.regex.test(subject);
  }
}
