// The HTTP plumbing the registry's two listeners share: bounded bodies, bearer tokens,
// decoded path segments, and plain responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from './RegistryError';

/** A JWK is well under 4 KiB; anything past this is refused before it is buffered. */
export const MAX_BODY_BYTES = 64 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = (): RegistryError => new RegistryError('ERR_REGISTRY_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
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
