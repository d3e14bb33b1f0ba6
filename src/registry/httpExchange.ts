// The HTTP plumbing the registry's two listeners share: bounded bodies, bearer tokens,
// decoded path segments, and plain responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBoundedBody } from '../proxy/readBoundedBody';
import { RegistryError } from './RegistryError';

/** A JWK is well under 4 KiB; anything past this is refused before it is buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return readBoundedBody(req, limit, () => new RegistryError('ERR_REGISTRY_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`));
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** The decoded segments of the request path (kids travel encoded: `…%3D`); a trailing slash is ignored. */
export function pathSegments(req: IncomingMessage): string[] {
  const pathname = new URL(req.url ?? '/', 'http://registry').pathname;
  const segments = pathname.split('/').slice(1);
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  try {
    // Go clients escape segments with url.QueryEscape, which writes a space as "+" (and "+" as %2B).
    return segments.map((segment) => decodeURIComponent(segment.replace(/\+/g, ' ')));
  } catch {
    throw new RegistryError('ERR_REGISTRY_BAD_REQUEST', 'the path is not valid percent-encoding');
  }
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = text === '' ? '' : `${text}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}
