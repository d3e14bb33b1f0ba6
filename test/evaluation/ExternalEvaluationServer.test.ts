// The Cloudflare Access External Evaluation endpoint, driven as Access drives it: a token
// signed by a local stand-in for the team's keys (its certs document in Cloudflare's shape)
// POSTed as {"token": …}; the answer {"token": …} verified with node:crypto against the
// JWKS our GET /keys serves. Built from YAML as the CLI builds it; the clock is injected.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExternalEvaluation } from '../../src/app/buildServices';
import { parseConfig } from '../../src/app/loadConfig';
import type { ExternalEvaluationServer } from '../../src/evaluation/ExternalEvaluationServer';
import { silentLogger } from '../../src/observability/logger';
import { tempDir } from '../support/cli';
import { accessIdentity, accessKey, accessToken, audTag, CERTS_PATH, certsDocument, DISK_ENCRYPTION_RULE, externalEvaluationClaims, FIREWALL_RULE, TEAM_DOMAIN } from '../support/cloudflareAccess';
import { eventually } from '../support/eventually';
import { httpRequest, type Answer } from '../support/httpRequest';
import { seconds } from '../support/jws';
import YAML from 'yaml';
import { stopAfterEach } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';

const AUD_TAG = audTag();
const teamKey = accessKey();
const ourKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const OUR_KID = 'evaluation-2026';

let now = Date.now();
const clock = () => now;
const track = stopAfterEach();
const team = new StandInServer();
let keyFile = '';

beforeAll(async () => {
  await team.listen();
  keyFile = path.join(tempDir(), 'evaluation.pem');
  fs.writeFileSync(keyFile, ourKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
afterAll(() => team.close());
beforeEach(() => {
  now = Date.now();
  team.up = true;
  team.serve(CERTS_PATH, { body: certsDocument([teamKey]) });
});

type Rule = { type: string; options: Record<string, unknown> };
const cel = (expression: string, message?: string): Rule => ({ type: 'cel', options: message ? { expression, message } : { expression } });
const ONLY_EXAMPLE_COM = cel('claims.identity.email.endsWith("@example.com")', 'only example.com users');

/** An endpoint for the team's application AUD_TAG; `options` replace the policy and our key, `extra` adds to the block. */
async function endpoint(options: { policy?: Rule[]; privateKey?: Record<string, unknown>; extra?: Record<string, unknown> } = {}): Promise<ExternalEvaluationServer> {
  const block = {
    listen_addr: '127.0.0.1:0',
    shutdown_timeout: '1s',
    team_domain: TEAM_DOMAIN,
    audience_tag: AUD_TAG,
    certs_url: `${team.url}${CERTS_PATH}`,
    private_key: options.privateKey ?? { type: 'preshared', options: { key_id: OUR_KID, private_key_path: keyFile } },
    policy: options.policy ?? [ONLY_EXAMPLE_COM],
    ...options.extra,
  };
  const config = parseConfig(YAML.stringify({ jwtproxy: { signer_proxy: { enabled: false }, external_evaluation: block } })).externalEvaluation!;
  const server = buildExternalEvaluation(config, { clock, logger: silentLogger });
  await server.start();
  return track(server);
}

/** A request token as Access signs it, issued now; `claims` override. */
const requestToken = (claims: Record<string, unknown> = {}) => accessToken(teamKey, externalEvaluationClaims(now, AUD_TAG, claims));
const evaluate = (server: ExternalEvaluationServer, body: unknown) =>
  httpRequest(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

interface Decoded {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** The answer's token, its RS256 signature checked with node:crypto against the key /keys lists under its kid. */
async function verifiedAnswer(server: ExternalEvaluationServer, answer: Answer): Promise<Decoded> {
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('application/json');
  const { token } = JSON.parse(answer.body) as { token: string };
  const [header, payload, signature] = token.split('.');
  const decoded: Decoded = { header: JSON.parse(Buffer.from(header, 'base64url').toString()), claims: JSON.parse(Buffer.from(payload, 'base64url').toString()) };
  const { keys } = JSON.parse((await httpRequest(`${server.url}/keys`)).body) as { keys: (crypto.JsonWebKey & { kid: string })[] };
  const jwk = keys.find((key) => key.kid === decoded.header.kid);
  if (!jwk) throw new Error(`/keys lists no key with kid ${String(decoded.header.kid)}`);
  const publicKey = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  expect(crypto.verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'))).toBe(true);
  return decoded;
}

describe('answers to Access', () => {
  test('a user the policy allows: {"token"} whose claims are {success: true, nonce copied, iat, exp = iat + 60 s}, signed by our key', async () => {
    const server = await endpoint();
    const nonce = crypto.randomBytes(16).toString('hex');
    const { header, claims } = await verifiedAnswer(server, await evaluate(server, { token: requestToken({ nonce }) }));
    expect(header).toEqual({ alg: 'RS256', kid: OUR_KID, typ: 'JWT' });
    expect(claims).toEqual({ success: true, nonce, iat: seconds(now), exp: seconds(now) + 60 });
  });

  test('a user the policy refuses: a signed answer with success: false and the nonce copied', async () => {
    const server = await endpoint();
    const nonce = crypto.randomBytes(16).toString('hex');
    const identity = accessIdentity({ email: 'mallory@evil.example' });
    const { claims } = await verifiedAnswer(server, await evaluate(server, { token: requestToken({ nonce, identity }) }));
    expect(claims).toMatchObject({ success: false, nonce });
  });

  test('the policy sees the identity as identity too: a device posture rule decides', async () => {
    const rule = (id: string) => [cel(`identity.devicePosture["${id}"].success`)];
    const encrypted = await endpoint({ policy: rule(DISK_ENCRYPTION_RULE) });
    expect((await verifiedAnswer(encrypted, await evaluate(encrypted, { token: requestToken() }))).claims.success).toBe(true);
    const firewalled = await endpoint({ policy: rule(FIREWALL_RULE) });
    expect((await verifiedAnswer(firewalled, await evaluate(firewalled, { token: requestToken() }))).claims.success).toBe(false);
  });

  test('every rule of the policy must hold', async () => {
    const server = await endpoint({ policy: [ONLY_EXAMPLE_COM, cel('"Finance" in identity.groups.map(g, g.name)')] });
    expect((await verifiedAnswer(server, await evaluate(server, { token: requestToken() }))).claims.success).toBe(false);
  });

  test('token_ttl sets the lifetime of the answers', async () => {
    const server = await endpoint({ extra: { token_ttl: '5m' } });
    const { claims } = await verifiedAnswer(server, await evaluate(server, { token: requestToken() }));
    expect((claims.exp as number) - (claims.iat as number)).toBe(300);
  });

  test('a request token larger than a header could hold (an identity with 400 groups) is evaluated', async () => {
    const groups = Array.from({ length: 400 }, (_, i) => ({ id: crypto.randomUUID(), name: `Group ${i}`, email: `group-${i}@example.com` }));
    const token = requestToken({ identity: accessIdentity({ groups }) });
    expect(token.length).toBeGreaterThan(32 * 1024);
    const server = await endpoint();
    expect((await verifiedAnswer(server, await evaluate(server, { token }))).claims.success).toBe(true);
  });
});

describe('GET /keys', () => {
  test('serves our public key as a JWKS: kid, kty, alg, use, n, e and nothing private', async () => {
    const server = await endpoint();
    const answer = await httpRequest(`${server.url}/keys`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    const { n, e } = ourKey.publicKey.export({ format: 'jwk' });
    expect(JSON.parse(answer.body)).toEqual({ keys: [{ kid: OUR_KID, kty: 'RSA', alg: 'RS256', use: 'sig', n, e }] });
  });

  test('POST /keys is refused with 405', async () => {
    const server = await endpoint();
    expect(await httpRequest(`${server.url}/keys`, { method: 'POST', body: '{}' })).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
  });
});

describe('requests that get no signed answer', () => {
  const refusal = (answer: Answer) => ({ status: answer.status, body: JSON.parse(answer.body) as Record<string, unknown> });

  test.each([
    ['a body that is not JSON', 'token=abc', 'the body is not JSON'],
    ['JSON without a token', { nonce: 'abc' }, 'the body has no "token" string'],
    ['a token that is not a string', { token: 42 }, 'the body has no "token" string'],
    ['an empty body', '', 'the body is not JSON'],
    ['a JSON list', '[]', 'the body has no "token" string'],
  ])('%s: 400 invalid_request', async (_name, body, description) => {
    const server = await endpoint();
    const answer = refusal(await evaluate(server, body));
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(answer.body.error_description).toContain(description);
  });

  test.each([
    [
      'a token signed by another key under the team kid',
      () => accessToken({ kid: teamKey.kid, privateKey: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }, externalEvaluationClaims(now, AUD_TAG)),
      'Invalid JWT signature',
    ],
    ['a token for another application (wrong aud)', () => requestToken({ aud: [audTag()] }), "Missing or invalid 'aud' claim"],
    ['a token of another team (wrong iss)', () => requestToken({ iss: 'https://other.cloudflareaccess.com' }), "Missing or invalid 'iss' claim"],
    ['an expired token', () => requestToken({ exp: seconds(now) - 120 }), "Missing or invalid 'exp' claim"],
    ['a token without a nonce', () => requestToken({ nonce: undefined }), "Missing required claim 'nonce'"],
    [
      'a token with a kid the team does not publish',
      () => accessToken({ kid: 'f'.repeat(64), privateKey: teamKey.pair.privateKey }, externalEvaluationClaims(now, AUD_TAG)),
      'Could not find any matching public key',
    ],
    ['a garbled token', () => 'not.a.jwt', 'Could not parse JWT'],
  ])('%s: 401 invalid_token', async (_name, token, reason) => {
    const server = await endpoint();
    expect(refusal(await evaluate(server, { token: token() }))).toEqual({ status: 401, body: { error: 'invalid_token', error_description: reason } });
  });

  test('a body over 1 MiB: 413', async () => {
    const server = await endpoint();
    expect((await evaluate(server, { token: 'x'.repeat(1024 * 1024 + 1) })).status).toBe(413);
  });

  test('GET /: 405, POST is the evaluation', async () => {
    const server = await endpoint();
    expect(await httpRequest(`${server.url}/`)).toMatchObject({ status: 405, headers: { allow: 'POST' } });
  });

  test("with the team's keys unreachable at start: not ready, 503 temporarily_unavailable; ready once the keys are fetched", async () => {
    team.up = false;
    const server = await endpoint();
    expect(server.ready()).toBe(false);
    expect(refusal(await evaluate(server, { token: requestToken() }))).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    team.up = true;
    await eventually(() => server.ready(), 'the team keys are fetched');
    expect((await verifiedAnswer(server, await evaluate(server, { token: requestToken() }))).claims.success).toBe(true);
  });
});

describe('an autogenerated key, published at /keys', () => {
  const kidsOf = async (server: ExternalEvaluationServer) => (JSON.parse((await httpRequest(`${server.url}/keys`)).body) as { keys: { kid: string }[] }).keys.map((key) => key.kid);

  test('answers are signed with a key made at start, which /keys lists', async () => {
    const server = await endpoint({ privateKey: { type: 'autogenerated' } });
    const { header, claims } = await verifiedAnswer(server, await evaluate(server, { token: requestToken() }));
    expect(claims.success).toBe(true);
    expect(await kidsOf(server)).toEqual([header.kid]);
  });

  test('after a rotation the new key signs and the key it replaced stays published', async () => {
    const server = await endpoint({ privateKey: { type: 'autogenerated', options: { rotate_every: '1s' } } });
    const [first] = await kidsOf(server);
    await eventually(async () => (await kidsOf(server)).length === 2, 'a rotation', 10_000);
    const [current, previous] = await kidsOf(server);
    expect(previous).toBe(first);
    const { header } = await verifiedAnswer(server, await evaluate(server, { token: requestToken() }));
    expect(header.kid).toBe(current);
  });

  test('with key_file the key survives a restart', async () => {
    const privateKey = { type: 'autogenerated', options: { key_file: path.join(tempDir(), 'evaluation.jwk') } };
    const first = await endpoint({ privateKey });
    const kids = await kidsOf(first);
    await first.stop();
    const second = await endpoint({ privateKey });
    expect(await kidsOf(second)).toEqual(kids);
  });
});
