// JSON.parse silently keeps the last of two members of the same name; RFC 7515 §5.2 and RFC 7519
// §4 want such a JWS refused. Instead of a second parser, one cheap pass over the text counts its
// members (valid JSON has one ':' outside strings per member): fewer parsed keys means a duplicate.

export interface JsonShape {
  /** The member names written in the text, at every depth. */
  members: number;
  /** The deepest nesting of objects and arrays. */
  depth: number;
  /** Whether a \u escape occurs: only then can a string hold a lone surrogate. */
  unicodeEscapes: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const LETTER_U = 0x75;

/** Scans text that JSON.parse accepts (on other text the counts mean nothing). */
export function scanJson(text: string): JsonShape {
  let members = 0;
  let depth = 0;
  let deepest = 0;
  let unicodeEscapes = false;
  const escapes = text.includes('\\');
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      if (!escapes) {
        i = text.indexOf('"', i + 1);
        if (i === -1) break;
        continue;
      }
      for (i++; i < text.length; i++) {
        const inString = text.charCodeAt(i);
        if (inString === QUOTE) break;
        if (inString === BACKSLASH && text.charCodeAt(++i) === LETTER_U) unicodeEscapes = true;
      }
    } else if (code === COLON) {
      members++;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > deepest) deepest = depth;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    }
  }
  return { members, depth: deepest, unicodeEscapes };
}

/** The own keys of every object in a parsed JSON value, at every depth. */
export function countMembers(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += countMembers(item);
    return count;
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) count += 1 + countMembers(object[key]);
  return count;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a string of a parsed JSON value, a member name or a value, holds an unpaired surrogate. */
export function hasLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  return Object.entries(value).some(([key, item]) => LONE_SURROGATE.test(key) || hasLoneSurrogate(item));
}
