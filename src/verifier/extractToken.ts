// Where a token comes from: `Authorization: Bearer <jwt>`, or the password of HTTP
// Basic auth for user "oauth2" (as Git and Docker clients send it). Go accepted any
// user name there; we accept only oauth2.

const BASIC_USER = 'oauth2';

export function extractToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const space = authorization.indexOf(' ');
  if (space === -1) return undefined;
  const scheme = authorization.slice(0, space).toLowerCase();
  const credentials = authorization.slice(space + 1).trim();
  if (scheme === 'bearer') return credentials || undefined;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1 || decoded.slice(0, colon) !== BASIC_USER) return undefined;
  return decoded.slice(colon + 1) || undefined;
}
