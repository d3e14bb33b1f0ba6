// The compact JWS token: parsing (no trust yet) and signing. Parsing is strict where RFC 7515,
// RFC 7519 and RFC 8725 say MUST, so that one token has one meaning for us and for any other reader.
import { isUtf8 } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { signAsync, type SigningAlgorithm } from './algorithms';
import { decodeBase64urlStrict, encodeBase64url } from './base64url';
import { countMembers, hasLoneSurrogate, scanJson } from './jsonShape';
import { JwsError, type JwsErrorCode } from './JwsError';

export type Claims = Record<string, unknown>;

/**
 * The protected header. Only alg, kid and typ are ever read. Keys a token carries or points to
 * (jwk, x5c, jku, x5u) are ignored and never fetched: the key server alone decides the key, and
 * the key decides the algorithm.
 */
export interface JoseHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
  [name: string]: unknown;
}

export interface ParsedToken {
  header: JoseHeader;
  claims: Claims;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: Buffer;
  signature: Buffer;
}

export interface ParseOptions {
  /** Accepts "=" padded segments, as AWS ALB writes them; off for every standard JWS. */
  allowPadding?: boolean;
  /** The longest token text accepted, checked before anything is decoded. */
  maxLength?: number;
}

export type TokenInspection = { ok: true; token: ParsedToken } | { ok: false; code: JwsErrorCode; message: string };

/** 16 KiB: Node's whole request header limit; no real token comes near it. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Deeper JSON than this in a header or claims is refused (no claim of ours nests past 2). */
const MAX_JSON_DEPTH = 32;

const fail = (code: JwsErrorCode, message: string): Extract<TokenInspection, { ok: false }> => ({ ok: false, code, message });
type Failure = ReturnType<typeof fail>;

function decodeJsonObject(segment: string, name: 'header' | 'claims', options: ParseOptions): { ok: true; value: Record<string, unknown> } | Failure {
  const bytes = decodeBase64urlStrict(segment, options);
  if (!bytes) return fail('ERR_JWS_BASE64URL', `the ${name} is not base64url without padding, whitespace or stray bits`);
  if (!isUtf8(bytes)) return fail('ERR_JWS_UTF8', `the ${name} is not UTF-8`);
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('ERR_JWS_JSON', `the ${name} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('ERR_JWS_NOT_OBJECT', `the ${name} is not a JSON object`);
  const shape = scanJson(text);
  if (shape.depth > MAX_JSON_DEPTH) return fail('ERR_JWS_JSON', `the ${name} nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (countMembers(value) !== shape.members) return fail('ERR_JWS_DUPLICATE_MEMBER', `the ${name} has a member name twice in one object`);
  if (shape.unicodeEscapes && hasLoneSurrogate(value)) return fail('ERR_JWS_UTF8', `the ${name} has a lone surrogate escape`);
  return { ok: true, value: value as Record<string, unknown> };
}

/** Header parameters the JWS spec defines: crit may not list them (RFC 7515 §4.1.11). */
const REGISTERED_HEADER_NAMES = new Set(['alg', 'jku', 'jwk', 'kid', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'typ', 'cty', 'crit']);

function critProblem(crit: unknown): string {
  if (!Array.isArray(crit)) return 'the crit header is not a list of names';
  if (crit.length === 0) return 'the crit header is an empty list, which RFC 7515 forbids';
  const registered = crit.find((name) => typeof name !== 'string' || REGISTERED_HEADER_NAMES.has(name));
  if (registered !== undefined) return `the crit header lists ${JSON.stringify(registered)}, which is not an extension name`;
  return `the crit header asks for extensions this verifier does not implement: ${crit.join(', ')}`;
}

function headerProblem(header: JoseHeader): Failure | undefined {
  // We implement no extension, so any crit makes the token one we must not accept.
  if (header.crit !== undefined) return fail('ERR_JWS_CRIT', critProblem(header.crit));
  if (header.b64 !== undefined && header.b64 !== true) return fail('ERR_JWS_B64', 'the b64 header asks for an unencoded payload (RFC 7797), which is not supported');
  if (typeof header.alg !== 'string') return fail('ERR_JWS_ALG', header.alg === undefined ? 'the header has no alg' : 'the alg header is not a string');
  if (header.typ !== undefined && typeof header.typ !== 'string') return fail('ERR_JWS_TYP', 'the typ header is not a string');
  // alg "none" and algorithms other than the key's are refused by the verifier, which answers as Go does.
  return undefined;
}

/** Splits and decodes a compact JWS, saying why when it is not one we accept. The signature is not checked. */
export function inspectToken(token: string, options: ParseOptions = {}): TokenInspection {
  if (token.length > (options.maxLength ?? MAX_TOKEN_LENGTH)) return fail('ERR_JWS_TOO_LARGE', `the token has ${token.length} characters, more than ${options.maxLength ?? MAX_TOKEN_LENGTH}`);
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot === -1 || secondDot === -1 || token.indexOf('.', secondDot + 1) !== -1) return fail('ERR_JWS_SEGMENTS', 'a JWS has three segments separated by dots');
  if (firstDot === 0 || secondDot === firstDot + 1) return fail('ERR_JWS_SEGMENTS', `the ${firstDot === 0 ? 'header' : 'claims'} segment is empty`);
  const header = decodeJsonObject(token.slice(0, firstDot), 'header', options);
  if (!header.ok) return header;
  const problem = headerProblem(header.value);
  if (problem) return problem;
  const claims = decodeJsonObject(token.slice(firstDot + 1, secondDot), 'claims', options);
  if (!claims.ok) return claims;
  const signature = decodeBase64urlStrict(token.slice(secondDot + 1), options);
  if (!signature) return fail('ERR_JWS_BASE64URL', 'the signature is not base64url without padding, whitespace or stray bits');
  return { ok: true, token: { header: header.value, claims: claims.value, signingInput: Buffer.from(token.slice(0, secondDot), 'latin1'), signature } };
}

/** As inspectToken, throwing a JwsError with the code. */
export function parseTokenStrict(token: string, options?: ParseOptions): ParsedToken {
  const inspection = inspectToken(token, options);
  if (!inspection.ok) throw new JwsError(inspection.code, inspection.message);
  return inspection.token;
}

/** Splits and decodes a compact JWS; undefined when it is not one we accept. The signature is not checked. */
export function parseToken(token: string, options?: ParseOptions): ParsedToken | undefined {
  const inspection = inspectToken(token, options);
  return inspection.ok ? inspection.token : undefined;
}

/** Serialises and signs a token: header {alg, kid, typ: JWT}, claims as given. */
export async function signToken(algorithm: SigningAlgorithm, key: KeyObject, keyId: string, claims: Claims): Promise<string> {
  const header = encodeBase64url(JSON.stringify({ alg: algorithm, kid: keyId, typ: 'JWT' }));
  const payload = encodeBase64url(JSON.stringify(claims));
  const signingInput = `${header}.${payload}`;
  const signature = await signAsync(algorithm, key, Buffer.from(signingInput, 'latin1'));
  return `${signingInput}.${encodeBase64url(signature)}`;
}
