// One spelling per request path (RFC 3986 §6.2.2), so that "/app/%2e%2e/admin" cannot climb
// out of an upstream's base path and a path rule sees the path the upstream will act on.
//
// - Escapes of unreserved characters are decoded (%2e → .), other escapes get upper-case hex
//   (%2f → %2F); a "%" that starts no escape becomes %25.
// - Characters a path may not hold (controls, space, "\", "#", "<" …) are escaped.
// - Dot segments are removed (§5.2.4), also ".." followed by ";params", which Tomcat and Jetty
//   read as "..". Runs of slashes become one, as nginx's merge_slashes does: "//host" reads as
//   an authority to some URL parsers.
// - Encoded slashes %2F (and backslashes %5C) stay encoded: they are data in a segment, and
//   decoding them would change the path's structure. A segment that would hold a dot segment if
//   they were separators (..%2F..%2Fadmin) has them encoded once more (%252F), so even an
//   upstream that decodes %2F before resolving dots cannot climb.

const HEX = '0123456789ABCDEF';

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e;
}

/** ASCII that a path may not hold as is: controls, space, DEL and " # < > [ \ ] ^ ` { | }. */
function mustBeEscaped(code: number): boolean {
  return code <= 0x20 || code === 0x7f || '"#<>[\\]^`{|}'.includes(String.fromCharCode(code));
}

const hexValue = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
};

const percentEscape = (byte: number): string => `%${HEX[byte >> 4]}${HEX[byte & 0x0f]}`;

/** Step 1: the percent-encoding normalised; characters above ASCII are left as they came. */
function normalizeEscapes(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 0x25) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      if (high === -1 || low === -1) {
        out += '%25';
        continue;
      }
      const byte = high * 16 + low;
      out += isUnreserved(byte) ? String.fromCharCode(byte) : percentEscape(byte);
      i += 2;
    } else {
      out += code < 0x80 && mustBeEscaped(code) ? percentEscape(code) : path[i];
    }
  }
  return out;
}

const isDot = (segment: string): boolean => segment === '.' || segment.startsWith('.;');
const isDotDot = (segment: string): boolean => segment === '..' || segment.startsWith('..;');
const ENCODED_SEPARATOR = /%2F|%5C/;

/** A segment whose encoded slashes would reveal a dot segment gets them encoded once more. */
function defuseEncodedSeparators(segment: string): string {
  if (!ENCODED_SEPARATOR.test(segment)) return segment;
  const pieces = segment.split(ENCODED_SEPARATOR);
  return pieces.some((piece) => isDot(piece) || isDotDot(piece)) ? segment.replace(/%(2F|5C)/g, '%25$1') : segment;
}

/** Nothing to do for most paths: no escape, dot, backslash, doubled slash or character to escape. */
const NEEDS_WORK = /[%.\\\x00-\x20"#<>[\]^`{|}\x7f]|\/\//;

/** The request path (no query) in its normal form: absolute, no dot segment, no empty segment. */
export function normalizePath(path: string): string {
  const absolute = path.startsWith('/') ? path : `/${path}`;
  if (!NEEDS_WORK.test(absolute)) return absolute;
  const segments = normalizeEscapes(absolute).split('/');
  const output: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (isDot(segment) || isDotDot(segment)) {
      if (isDotDot(segment)) output.pop();
      if (last) output.push('');
    } else if (segment !== '' || last) {
      output.push(defuseEncodedSeparators(segment));
    }
  }
  return `/${output.join('/')}`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** "..;x" and ".;x": a dot segment to Tomcat and Jetty, an ordinary one to nginx. */
const DOT_SEGMENT_WITH_PARAMETERS = /\/\.{1,2};/;
/** "//" before "..": nginx merges the slashes first, a URL parser climbs out of the empty segment. */
const EMPTY_SEGMENT_THEN_DOTS = /\/\/.*\/\.\.?(\/|$)/;

/** The bytes of a run of escapes starting at `at` (%C3%A9…), and where the run ends. */
function escapedRun(path: string, at: number): { bytes: number[]; end: number } {
  const bytes: number[] = [];
  let i = at;
  while (path.charCodeAt(i) === 0x25) {
    const high = hexValue(path.charCodeAt(i + 1));
    const low = hexValue(path.charCodeAt(i + 2));
    if (high === -1 || low === -1) break;
    bytes.push(high * 16 + low);
    i += 3;
  }
  return { bytes, end: i };
}

/**
 * Whether a gateway or an application could give a path (no query) another meaning than its
 * normal form after jwtproxy has judged it: an escaped "/", "\", ".", "%" or ";" (decoded once
 * more, or resolved or read as a path parameter after decoding), an escaped control character or
 * NUL, a literal "\" (read as "/" by some servers), an escape that is not one (%zz), escaped bytes
 * that are not UTF-8 (overlong %C0%AE is "."), a path parameter (";x": Tomcat, Jetty and Spring
 * drop it, so "/admin;x" is "/admin" to them; nginx and Node keep it), a literal "#" (where nginx
 * ends the path), or "//" before a dot segment (merged first by nginx, not by a URL parser).
 * Forward-auth asks it of the raw path, which the gateway routes itself; a reverse proxy of the
 * normalised path it forwards. Such a path is never excluded, and never allowed by a rule that
 * may look at the path.
 */
export function isAmbiguousPath(path: string): boolean {
  if (path.includes('\\') || path.includes('#') || path.includes(';') || DOT_SEGMENT_WITH_PARAMETERS.test(path) || EMPTY_SEGMENT_THEN_DOTS.test(path)) return true;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i)) {
    const { bytes, end } = escapedRun(path, i);
    if (bytes.length === 0) return true;
    for (const byte of bytes) if (byte === 0x2f || byte === 0x5c || byte === 0x2e || byte === 0x25 || byte === 0x3b || byte < 0x20 || byte === 0x7f) return true;
    if (bytes.some((byte) => byte >= 0x80)) {
      try {
        UTF8.decode(Uint8Array.from(bytes));
      } catch {
        return true;
      }
    }
    i = end;
  }
  return false;
}
