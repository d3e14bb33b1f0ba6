// `jwtproxy verify-token`: checks a token offline with the verifier's own Authenticator (same order,
// same Go reasons, the key's fixed algorithm), from flags or from a verifier of a config file.
import { normalizePath } from '../proxy/normalizePath';
import { readFile } from 'node:fs/promises';
import { claimsVerifierServices, createClaimsVerifier } from '../claims/claimsVerifierTypes';
import { expandEnv, loadConfigFile } from '../app/loadConfig';
import { audienceOrigin, type ClaimRules } from '../jwt/registeredClaims';
import { AUTHORIZATION_ONLY } from '../verifier/tokenSources';
import type { TokenRules } from '../verifier/Authenticator';
import { parseToken } from '../jwt/token';
import { createKeyServer } from '../keys/keyServerTypes';
import { KeyServerError, type KeyServer, type VerificationKey } from '../keys/KeyServer';
import { PresharedKeyServer } from '../keys/PresharedKeyServer';
import { verificationKeyFromJwk } from '../keys/verificationKeyFromJwk';
import { VoidNonceStore } from '../nonce/VoidNonceStore';
import { silentLogger } from '../observability/logger';
import { systemClock } from '../util/clock';
import { ServiceGroup } from '../util/ServiceGroup';
import { Authenticator, type AuthenticationRequest } from '../verifier/Authenticator';
import { UsageError } from './parseArgs';
import { ToolError, type ToolCommand, type ToolIo } from './ToolCommand';
import { ToolFlags } from './ToolFlags';
import type { VerifierConfig } from '../verifier/verifierConfig';

const USAGE = `usage: jwtproxy verify-token -pub key.pub -aud URL [-iss jwtproxy] [-kid KID] [-max-skew 1m] [-max-ttl 5m] [-at TIME] TOKEN|-
       jwtproxy verify-token -config FILE [-verifier N] [-aud URL] [-max-skew D] [-max-ttl D] [-at TIME]
                             [-method GET] [-path /] [-host HOST] [-header 'Name: value']... TOKEN|-
  Verifies a token as a verifier proxy would (its checks, order and reasons; the jti is not recorded),
  prints its header and claims as JSON, then "valid" (exit 0) or the reason it is refused (exit 1).
  With -config the verifier's claims verifiers run too (static, cel, lua, http) and the headers an
  authorizer's decision sets are printed before "valid".
  TOKEN or - to read it from standard input.
  -pub FILE          the issuer's public key: PEM "PUBLIC KEY" (as a preshared key server reads it) or a JWK
  -aud URL           the verifier's audience: only scheme://host[:port] is compared
  -iss NAME          the issuer the key belongs to (default jwtproxy)
  -kid KID           the key's id (default: the JWK's kid, else any)
  -max-skew D        default 1m
  -max-ttl D         default 5m
  -at TIME           verify as of TIME (RFC 3339 or Unix seconds) instead of now: was a token valid then?
  -config FILE       take audience, max_skew, max_ttl, the preshared key server and the claims verifiers
  -verifier N        from verifier_proxies[N] of FILE (default 0; required when there are several)
  -method, -path, -host, -header 'Name: value' (repeatable)
                     the request the claims verifiers see (default GET / with no host and no other header)`;

/** A public JWK as the only key of one (issuer, kid), matched case-insensitively as the preshared server does. */
class JwkKeyServer implements KeyServer {
  constructor(
    private readonly key: VerificationKey,
    private readonly issuer: string,
    private readonly keyId: string | undefined,
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    if (issuer.toLowerCase() !== this.issuer.toLowerCase()) {
      return Promise.reject(new KeyServerError(`issuer ${JSON.stringify(issuer)} is unknown: the key is the one of issuer ${JSON.stringify(this.issuer)} (-iss)`));
    }
    if (this.keyId !== undefined && keyId.toLowerCase() !== this.keyId.toLowerCase()) {
      return Promise.reject(new KeyServerError(`kid ${JSON.stringify(keyId)} is unknown: the key has kid ${JSON.stringify(this.keyId)}`));
    }
    return Promise.resolve(this.key);
  }
}

interface Verification {
  rules: TokenRules;
  keyServer: KeyServer;
  verifierConfig?: VerifierConfig;
}

function audienceRule(text: string): string {
  try {
    return audienceOrigin(new URL(text));
  } catch {
    throw new UsageError(`-aud ${JSON.stringify(text)} is not a URL (e.g. https://service.example:8443)`);
  }
}

/** The verifier of `-config FILE -verifier N`, its settings overridden by -aud, -max-skew and -max-ttl. */
function fromConfig(flags: ToolFlags): Verification {
  for (const name of ['pub', 'iss', 'kid']) {
    if (flags.has(name)) throw new UsageError(`-${name} cannot be used with -config: the key comes from the verifier's key_server`);
  }
  const file = flags.required('config', 'the configuration file');
  const proxies = loadConfigFile(expandEnv(file)).verifierProxies;
  if (proxies.length === 0) throw new ToolError(`${file} has no verifier_proxies`);
  if (proxies.length > 1 && !flags.has('verifier')) throw new UsageError(`${file} has ${proxies.length} verifier proxies: choose one with -verifier 0 to ${proxies.length - 1}`);
  const index = flags.integer('verifier', 0, 0, proxies.length - 1);
  const verifier = proxies[index].verifier;
  if (verifier.keyServer.type === 'keyregistry') {
    throw new ToolError(`verifier_proxies[${index}] uses a keyregistry key server; verify-token works with preshared keys and provider key sets only: use -pub and -aud instead`);
  }
  const claims: ClaimRules = {
    ...verifier.rules.claims,
    maxSkewMs: flags.duration('max-skew', verifier.maxSkewMs, { allowZero: true }),
    maxTtlMs: flags.duration('max-ttl', verifier.maxTtlMs, { allowZero: true }),
  };
  if (flags.has('aud')) Object.assign(claims, { audience: audienceRule(flags.required('aud', '')), audiences: undefined });
  return {
    rules: { ...verifier.rules, claims, tokenSources: AUTHORIZATION_ONLY },
    keyServer: createKeyServer(verifier.keyServer, { clock: systemClock, logger: silentLogger }),
    verifierConfig: verifier,
  };
}

/** -pub FILE: a PEM goes through the preshared key server itself; a JWK through the same matching. */
async function fromFlags(flags: ToolFlags, tokenKeyId: unknown): Promise<Verification> {
  const publicKeyPath = flags.required('pub', "the issuer's public key file");
  const issuer = flags.string('iss', 'jwtproxy');
  const keyId = flags.string('kid');
  const rules: TokenRules = {
    claims: {
      audience: audienceRule(flags.required('aud', "the verifier's audience URL")),
      maxSkewMs: flags.duration('max-skew', 60_000, { allowZero: true }),
      maxTtlMs: flags.duration('max-ttl', 300_000),
    },
    tokenSources: AUTHORIZATION_ONLY,
  };
  const text = await readFile(publicKeyPath, 'utf8').catch(() => '');
  if (text.trimStart().startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch (error) {
      throw new ToolError(`${publicKeyPath} is not JSON: ${(error as Error).message}`);
    }
    const jwkKeyId = (jwk as { kid?: unknown }).kid;
    return { rules, keyServer: new JwkKeyServer(verificationKeyFromJwk(jwk), issuer, keyId ?? (typeof jwkKeyId === 'string' ? jwkKeyId : undefined)) };
  }
  // Without -kid any kid is the key's: the preshared server is given the token's own.
  const presharedKeyId = keyId ?? (typeof tokenKeyId === 'string' ? tokenKeyId : '');
  return { rules, keyServer: new PresharedKeyServer({ type: 'preshared', issuer, keyId: presharedKeyId, publicKeyPath }) };
}

function instantOf(flags: ToolFlags): number | undefined {
  const text = flags.string('at');
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : /^\d{4}-\d\d-\d\dT/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`-at ${JSON.stringify(text)} is not a time: give RFC 3339 (2026-11-22T14:29:42Z) or Unix seconds`);
  return ms;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** The request the claims verifiers see, from -method, -path, -host and -header. */
function requestOf(flags: ToolFlags, token: string): AuthenticationRequest {
  const headers: Record<string, string | string[]> = {};
  for (const text of flags.list('header')) {
    const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(text);
    if (!match) throw new UsageError(`-header ${JSON.stringify(text)} is not "Name: value"`);
    const name = match[1].toLowerCase();
    const previous = headers[name];
    headers[name] = previous === undefined ? match[2] : [previous, match[2]].flat();
  }
  const host = flags.string('host', '');
  if (host) headers.host = host;
  headers.authorization = `Bearer ${token}`;
  const path = flags.string('path', '/');
  if (!path.startsWith('/')) throw new UsageError(`-path ${JSON.stringify(path)} must start with /`);
  const query = path.indexOf('?');
  return {
    method: flags.string('method', 'GET').toUpperCase(),
    path: normalizePath(query === -1 ? path : path.slice(0, query)),
    host,
    headers,
    token: { present: true, token, source: { type: 'authorization' } },
  };
}

async function readTokenArgument(flags: ToolFlags, io: ToolIo): Promise<string> {
  const [argument] = flags.positionals(1);
  if (argument === undefined) throw new UsageError('the token is missing: give it as the last argument, or - to read it from standard input');
  return (argument === '-' ? await readAll(io.stdin ?? process.stdin) : argument).trim();
}

export const verifyToken: ToolCommand = {
  name: 'verify-token',
  usage: USAGE,
  async run(line, io) {
    const flags = new ToolFlags(line, ['pub', 'aud', 'iss', 'kid', 'max-skew', 'max-ttl', 'config', 'verifier', 'at', 'method', 'path', 'host', 'header']);
    if (!flags.has('config') && flags.has('verifier')) throw new UsageError('-verifier needs -config');
    const atMs = instantOf(flags);
    const token = await readTokenArgument(flags, io);
    const request = requestOf(flags, token);
    const parsed = parseToken(token);
    const verification = flags.has('config') ? fromConfig(flags) : await fromFlags(flags, parsed?.header.kid);

    const clock = atMs === undefined ? systemClock : () => atMs;
    const claimsVerifiers = (verification.verifierConfig?.claimsVerifiers ?? []).map((config) => createClaimsVerifier(config, { clock }));
    // Scripts load as the proxy loads them: a syntax error ends the command with its YAML path.
    const parts = new ServiceGroup([verification.keyServer, ...claimsVerifierServices(claimsVerifiers)]);
    await parts.start();
    const authenticator = new Authenticator({
      rules: verification.rules,
      keyServer: verification.keyServer,
      nonceStore: verification.rules.claims.requireJti === false ? undefined : new VoidNonceStore(silentLogger),
      claimsVerifiers,
      clock,
    });
    try {
      if (parsed) io.stdout(`${JSON.stringify({ header: parsed.header, claims: parsed.claims }, null, 2)}\n`);
      const verdict = await authenticator.authenticate(request);
      if (verdict.ok) {
        // Header values travel as UTF-8 bytes in latin1 strings: shown as the text they are.
        for (const [name, value] of verdict.headers ?? []) io.stdout(`upstream header ${name}: ${Buffer.from(value, 'latin1').toString('utf8')}\n`);
        io.stdout('valid\n');
        return 0;
      }
      io.stdout(`${verdict.reason}\n`);
      if (verdict.cause) io.stderr(`jwtproxy verify-token: ${verdict.cause.message}\n`);
      return 1;
    } finally {
      await parts.stop();
    }
  },
};
