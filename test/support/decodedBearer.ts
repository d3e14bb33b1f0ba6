// The JWT of an `Authorization: Bearer` header taken apart as it travelled: the exact JSON texts of
// its header and payload, their parsed values, and what its signature covers.
import type { IncomingHttpHeaders } from 'node:http';

export interface DecodedBearer {
  token: string;
  headerJson: string;
  payloadJson: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

/** Throws when `authorization` is not one `Bearer <header>.<payload>.<signature>` value. */
export function decodedBearer(authorization: IncomingHttpHeaders['authorization'] | string[]): DecodedBearer {
  const match = typeof authorization === 'string' ? /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(authorization) : null;
  if (!match) throw new Error(`not one Bearer JWT: ${JSON.stringify(authorization)}`);
  const [token, header, payload, signature] = [match[0].slice(7), match[1], match[2], match[3]];
  const headerJson = Buffer.from(header, 'base64url').toString('utf8');
  const payloadJson = Buffer.from(payload, 'base64url').toString('utf8');
  return {
    token,
    headerJson,
    payloadJson,
    header: JSON.parse(headerJson) as Record<string, unknown>,
    payload: JSON.parse(payloadJson) as Record<string, unknown>,
    signingInput: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}
