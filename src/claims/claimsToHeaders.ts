// Identity facts written as upstream request headers: `Header-Name: <CEL expression>`.
// Strings go as they are, lists joined by ",", objects as JSON; an absent value sends no
// header. A value with CR, LF, NUL (any control character but tab), or longer than the cap, refuses the request: a
// header must never be split or smuggled by a claim.
import type { CelExpression } from '../policy/CelExpression';
import { PolicyTimeoutError } from '../policy/PolicyTimeoutError';
import { JwtproxyError } from '../util/JwtproxyError';
import type { PolicyInput } from './ClaimsVerifier';

export interface HeaderMapping {
  /** Lower-case header name. */
  header: string;
  expression: CelExpression;
}

const MAX_MAPPED_HEADER_BYTES = 8192;

export class HeaderMappingError extends JwtproxyError {
  readonly code = 'ERR_HEADER_MAPPING';
}

function bigintAsNumber(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** The header text of an evaluated value, or undefined for none. */
function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'object' && item !== null ? JSON.stringify(item, bigintAsNumber) : String(item))).join(',');
  if (value instanceof Map) return JSON.stringify(Object.fromEntries(value), bigintAsNumber);
  return JSON.stringify(value, bigintAsNumber);
}

/** The headers to add upstream, as [name, value] pairs; throws HeaderMappingError on a forbidden value. */
export function mappedHeaders(mappings: readonly HeaderMapping[], input: PolicyInput): [string, string][] {
  const headers: [string, string][] = [];
  for (const { header, expression } of mappings) {
    let value: unknown;
    try {
      value = expression.evaluate(input as unknown as Record<string, unknown>);
    } catch (error) {
      // An evaluation stopped at its time bound refuses the request (fail closed).
      if (error instanceof PolicyTimeoutError) throw new HeaderMappingError(`the value for ${header}: ${error.message}`);
      // An absent claim is the common case: no header.
      continue;
    }
    const wire = headerValue(header, value);
    if (wire !== undefined) headers.push([header, wire]);
  }
  return headers;
}

/** The wire value of an identity header, undefined for none; throws HeaderMappingError on a forbidden value. */
export function headerValue(header: string, value: unknown): string | undefined {
  const text = headerText(value);
  return text === undefined ? undefined : wireValue(header, text);
}

/** `text` as Node sends it (UTF-8 bytes as latin1); throws HeaderMappingError for a control character or a value over the cap. */
export function wireValue(header: string, text: string): string {
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) throw new HeaderMappingError(`the value for ${header} contains CR, LF, NUL or another control character`);
  // Node sends header values as latin1: pass UTF-8 bytes through unchanged.
  const wire = Buffer.from(text, 'utf8').toString('latin1');
  if (wire.length > MAX_MAPPED_HEADER_BYTES) throw new HeaderMappingError(`the value for ${header} is longer than ${MAX_MAPPED_HEADER_BYTES} bytes`);
  return wire;
}
