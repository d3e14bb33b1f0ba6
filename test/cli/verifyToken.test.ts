// `jwtproxy verify-token`, run as the real binary: the verifier's rules and the Go reasons, offline.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseToken, type Claims } from '../../src/jwt/token';
import { tempDir } from '../support/cli';
import { CAPTURE_CLOCK_MS, interopFile, readInterop, verifierCases } from '../support/interop';
import { mintToken } from '../support/mintToken';
import { OpaStandIn } from '../support/opaStandIn';
import { runTool } from './runTool';

const KEY = interopFile('mykey.key');
const PUB = interopFile('mykey.pub');
const AUDIENCE = 'http://127.0.0.1:18080/';

let directory: string;

beforeAll(() => {
  directory = tempDir();
});

afterAll(() => fs.rm(directory, { recursive: true, force: true }));

/** A token of the interop key, minted in process (fewer processes to start); claims overridable. */
const mint = (claims: Claims = {}) => mintToken({ audience: AUDIENCE.replace(/\/$/, ''), claims });

const verify = (...args: string[]) => runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE, ...args]);

const reason = async (args: string[]) => {
  const run = await runTool(['verify-token', ...args]);
  return { code: run.code, verdict: run.stdout.trimEnd().split('\n').pop() };
};

/** The JSON document before the last line, and the last line. */
function output(stdout: string): { decoded: unknown; verdict: string } {
  const lines = stdout.trimEnd().split('\n');
  return { decoded: JSON.parse(lines.slice(0, -1).join('\n')), verdict: lines[lines.length - 1] };
}

/** A config like the one the Go verifier of the interop captures ran with. */
async function writeConfig(name: string, verifierExtra = '', moreVerifiers = ''): Promise<string> {
  const file = path.join(directory, name);
  await fs.writeFile(
    file,
    `jwtproxy:
  signer_proxy:
    enabled: false
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: http://127.0.0.1:18081/
      audience: ${AUDIENCE}
      max_skew: 1m
      max_ttl: 5m
      key_server:
        type: preshared
        options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${PUB}}
${verifierExtra}${moreVerifiers}`,
  );
  return file;
}

test('a token of mint-token is valid: its header and claims are printed as JSON, then "valid", exit 0', async () => {
  const token = (await runTool(['mint-token', '-key', KEY, '-kid', 'mykey', '-aud', AUDIENCE])).stdout.trim();
  const run = await verify(token);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const parsed = parseToken(token)!;
  expect(output(run.stdout)).toEqual({ decoded: { header: parsed.header, claims: parsed.claims }, verdict: 'valid' });
});

test('"-" reads the token from standard input', async () => {
  const run = await runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE, '-'], { stdin: `${await mint()}\n` });
  expect(run.code).toBe(0);
  expect(output(run.stdout).verdict).toBe('valid');
});

test('a tampered token is refused with "Invalid JWT signature", exit 1', async () => {
  const token = await mint();
  const [header, , signature] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...parseToken(token)!.claims, sub: 'admin' })).toString('base64url');
  expect(await reason(['-pub', PUB, '-aud', AUDIENCE, `${header}.${forged}.${signature}`])).toEqual({ code: 1, verdict: 'Invalid JWT signature' });
});

test('a token for another audience is refused with the Go reason', async () => {
  const token = await mint();
  expect(await reason(['-pub', PUB, '-aud', 'http://127.0.0.1:9999', token])).toEqual({ code: 1, verdict: "Missing or invalid 'aud' claim" });
});

test('an expired token is refused with the Go reason', async () => {
  const token = await mint({ exp: 1000 });
  expect(await reason(['-pub', PUB, '-aud', AUDIENCE, token])).toEqual({ code: 1, verdict: "Missing or invalid 'exp' claim" });
});

test('-max-ttl is enforced as the verifier does', async () => {
  const token = await mint({ exp: Math.floor(Date.now() / 1000) + 600 });
  expect(await reason(['-pub', PUB, '-aud', AUDIENCE, token])).toEqual({ code: 1, verdict: "Invalid 'exp' claim (too long)" });
  expect(await reason(['-pub', PUB, '-aud', AUDIENCE, '-max-ttl', '10m', token])).toEqual({ code: 0, verdict: 'valid' });
});

test('a kid other than -kid gets the preshared key server reason, the detail on stderr', async () => {
  const run = await verify('-kid', 'otherkey', await mint());
  expect(run.code).toBe(1);
  expect(run.stdout.trimEnd().split('\n').pop()).toBe('Unexpected key server error');
  expect(run.stderr).toContain('kid "mykey" is unknown');
});

test('garbage is refused with "Could not parse JWT" and nothing decoded', async () => {
  const run = await verify('not.a.jwt');
  expect([run.code, run.stdout]).toEqual([1, 'Could not parse JWT\n']);
});

test('a JWK public key from generate-key verifies the tokens of its private key', async () => {
  const keyFile = path.join(directory, 'jwk.key');
  const publicFile = path.join(directory, 'jwk.pub');
  await runTool(['generate-key', '-out', keyFile, '-pub', publicFile, '-format', 'jwk', '-algorithm', 'EdDSA']);
  const token = (await runTool(['mint-token', '-key', keyFile, '-aud', AUDIENCE])).stdout.trim();
  expect(await reason(['-pub', publicFile, '-aud', AUDIENCE, token])).toEqual({ code: 0, verdict: 'valid' });
  expect(await reason(['-pub', PUB, '-aud', AUDIENCE, token])).toEqual({ code: 1, verdict: 'Invalid JWT signature' });
});

// The captures of the Go verifier that do not depend on earlier requests (replays, nonce burn).
const STATEFUL = ['replayed_jti', 'nonce_burn_then_genuine', 'used_jti_bad_sig_go_signer', 'basic_auth_any_user'];
const GO_CASES = verifierCases().filter((entry) => entry.tokenFile && !STATEFUL.includes(entry.name));

describe('with -config and -at the capture time, gives the Go verifier its answers', () => {
  let config: string;
  beforeAll(async () => {
    config = await writeConfig('interop.yaml');
  });

  test.concurrent.each(GO_CASES.map((entry) => [entry.name, entry] as const))('%s', async (_name, entry) => {
    const token = readInterop(entry.tokenFile!).trim();
    // That row was captured a moment after its token's exp, later than the others.
    const atSeconds = entry.name === 'expired_go_signer' ? (parseToken(token)!.claims.exp as number) + 1 : CAPTURE_CLOCK_MS / 1000;
    const expected = entry.status === 200 ? 'valid' : entry.body.replace('jwtproxy: unable to verify request: ', '');
    expect(await reason(['-config', config, '-at', String(atSeconds), token])).toEqual({ code: entry.status === 200 ? 0 : 1, verdict: expected });
  });
});

test("-config applies the verifier's claims verifiers", async () => {
  const config = await writeConfig('claims.yaml', '      claims_verifiers:\n      - {type: static, options: {iss: someone-else}}\n');
  expect(await reason(['-config', config, await mint()])).toEqual({ code: 1, verdict: 'Error verifying claims: Claim did not have the required value: iss' });
});

describe('-config runs CEL, Lua and http claims verifiers against the request -method, -path, -host and -header describe', () => {
  const opa = new OpaStandIn();
  beforeAll(() => opa.listen());
  afterAll(() => opa.close());

  const luaRule = `function verify(input)
  local r = input.request
  local dn = r.headers["cf-cert-subject-dn"] or ""
  if not dn:match("^CN=build%-agent%-%d+") then return false, "build agents only" end
  if r.method ~= "POST" or r.path ~= "/deploy" or r.host ~= "ci.example" then return false, r.method .. " " .. r.host .. r.path end
  return input.claims.uid > 2^31, "uid too small"
end
`;

  async function luaConfig(name: string, source: string): Promise<string> {
    const script = path.join(directory, `${name}.lua`);
    await fs.writeFile(script, source);
    return writeConfig(`${name}.yaml`, `      claims_verifiers:\n      - {type: lua, options: {script: ${script}}}\n`);
  }

  test('a Lua rule over the request and a 64-bit claim', async () => {
    const config = await luaConfig('lua-rule', luaRule);
    const token = await mint({ uid: 3_000_000_000 });
    const request = ['-method', 'post', '-path', '/deploy?dry=1', '-host', 'ci.example', '-header', 'CF-Cert-Subject-DN: CN=build-agent-7,O=Example'];
    expect(await reason(['-config', config, ...request, token])).toEqual({ code: 0, verdict: 'valid' });
    expect(await reason(['-config', config, ...request.slice(0, 6), token])).toEqual({ code: 1, verdict: 'Error verifying claims: build agents only' });
    expect(await reason(['-config', config, ...request.slice(2), token])).toEqual({ code: 1, verdict: 'Error verifying claims: GET ci.example/deploy' });
    expect(await reason(['-config', config, ...request, await mint({ uid: 5 })])).toEqual({ code: 1, verdict: 'Error verifying claims: uid too small' });
  });

  test('a Lua rule that fails: refused, with the line of the error on stderr', async () => {
    const config = await luaConfig('lua-error', 'function verify(input)\n  return input.claims.custom.team == "ops"\nend\n');
    const run = await runTool(['verify-token', '-config', config, await mint()]);
    expect(run.code).toBe(1);
    expect(run.stdout.trimEnd().split('\n').pop()).toBe('Error verifying claims: the Lua rule failed');
    expect(run.stderr).toMatch(/^jwtproxy verify-token: jwtproxy\.verifier_proxies\[0\]\.verifier\.claims_verifiers\[0\]: .*lua-error\.lua:2: attempt to index a nil value \(field 'custom'\)\n$/);
  });

  test("a Lua script with a syntax error ends the command with its YAML path and Lua's message", async () => {
    const config = await luaConfig('lua-syntax', 'function verify(input)\n  return input.claims.ok ==\nend\n');
    const run = await runTool(['verify-token', '-config', config, await mint()]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^jwtproxy verify-token: invalid configuration: jwtproxy\.verifier_proxies\[0\]\.verifier\.claims_verifiers\[0\]\.options\.script: .*lua-syntax\.lua:3: unexpected symbol near 'end' \(not valid Lua 5\.4\)\n$/,
    );
  });

  test("a CEL rule over the client certificate's CN in a request header", async () => {
    const rule = 'request.headers["cf-cert-subject-dn"].matches("(^|,)CN=build-agent-[0-9]+(,|$)")';
    const config = await writeConfig('cel-cn.yaml', `      claims_verifiers:\n      - {type: cel, options: {expression: ${JSON.stringify(rule)}, message: build agents only}}\n`);
    const token = await mint();
    expect(await reason(['-config', config, '-header', 'cf-cert-subject-dn: O=Example,CN=build-agent-12', token])).toEqual({ code: 0, verdict: 'valid' });
    expect(await reason(['-config', config, '-header', 'cf-cert-subject-dn: CN=laptop-3', token])).toEqual({ code: 1, verdict: 'Error verifying claims: build agents only' });
    expect(await reason(['-config', config, token])).toEqual({ code: 1, verdict: 'Error verifying claims: build agents only' });
  });

  test('an OPA authorizer is asked; the headers of its decision are printed before "valid"', async () => {
    opa.policy('ci/deploy', (input) => {
      const { request } = input as { request: { path: string } };
      return request.path === '/deploy' ? { allow: true, headers: { 'x-deployer': 'build-agent-7' } } : { allow: false, message: 'deploys only' };
    });
    const config = await writeConfig('opa.yaml', `      claims_verifiers:\n      - {type: http, options: {dialect: opa, url: "${opa.url}/v1/data/ci/deploy", upstream_headers: [x-deployer]}}\n`);
    const token = await mint();
    const run = await runTool(['verify-token', '-config', config, '-path', '/deploy', token]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.trimEnd().split('\n').slice(-2)).toEqual(['upstream header x-deployer: build-agent-7', 'valid']);
    expect(await reason(['-config', config, '-path', '/other', token])).toEqual({ code: 1, verdict: 'Error verifying claims: deploys only' });
    opa.up = false;
    const down = await runTool(['verify-token', '-config', config, '-path', '/deploy', token]);
    opa.up = true;
    expect(down.code).toBe(1);
    expect(down.stdout.trimEnd().split('\n').pop()).toBe('Authorizer unavailable');
    expect(down.stderr).toContain(`jwtproxy verify-token: authorizer ${opa.url}/v1/data/ci/deploy: `);
  });

  test('-header must be "Name: value" and -path a path', async () => {
    const config = await writeConfig('headers.yaml');
    const token = await mint();
    const [header, pathRun] = await Promise.all([runTool(['verify-token', '-config', config, '-header', 'no colon', token]), runTool(['verify-token', '-config', config, '-path', 'deploy', token])]);
    expect([header.code, header.stderr.split('\n')[0]]).toEqual([2, 'jwtproxy verify-token: -header "no colon" is not "Name: value"']);
    expect([pathRun.code, pathRun.stderr.split('\n')[0]]).toEqual([2, 'jwtproxy verify-token: -path "deploy" must start with /']);
  });
});

test('-config needs -verifier when the file has several verifiers', async () => {
  const second = `  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: http://127.0.0.1:18081/
      audience: http://other.example/
      key_server:
        type: preshared
        options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${PUB}}
`;
  const config = await writeConfig('two.yaml', '', second);
  const token = await mint();
  const [ambiguous, first, other] = await Promise.all([
    runTool(['verify-token', '-config', config, token]),
    reason(['-config', config, '-verifier', '0', token]),
    reason(['-config', config, '-verifier', '1', token]),
  ]);
  expect(ambiguous.code).toBe(2);
  expect(ambiguous.stderr).toContain('has 2 verifier proxies: choose one with -verifier 0 to 1');
  expect(first).toEqual({ code: 0, verdict: 'valid' });
  expect(other).toEqual({ code: 1, verdict: "Missing or invalid 'aud' claim" });
});

test('-config with a keyregistry key server is refused: verification is offline', async () => {
  const file = path.join(directory, 'registry.yaml');
  await fs.writeFile(
    file,
    `jwtproxy:
  signer_proxy: {enabled: false}
  verifier_proxies:
  - verifier:
      upstream: http://127.0.0.1:18081/
      audience: ${AUDIENCE}
      key_server: {type: keyregistry, options: {registry: http://127.0.0.1:1/}}
`,
  );
  const run = await runTool(['verify-token', '-config', file, await mint()]);
  expect(run.code).toBe(1);
  expect(run.stderr).toContain('verifier_proxies[0] uses a keyregistry key server');
});

test('bad input is a usage error with exit code 2', async () => {
  const token = await mint();
  const config = await writeConfig('usage.yaml');
  const runs = await Promise.all([
    runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE]),
    runTool(['verify-token', '-pub', PUB, token]),
    runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE, '-at', 'yesterday', token]),
    runTool(['verify-token', '-config', config, '-pub', PUB, token]),
    runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE, token, 'extra']),
  ]);
  expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2]);
  expect(runs.map((run) => run.stderr.split('\n')[0])).toEqual([
    'jwtproxy verify-token: the token is missing: give it as the last argument, or - to read it from standard input',
    "jwtproxy verify-token: -aud is required (the verifier's audience URL)",
    'jwtproxy verify-token: -at "yesterday" is not a time: give RFC 3339 (2026-11-22T14:29:42Z) or Unix seconds',
    "jwtproxy verify-token: -pub cannot be used with -config: the key comes from the verifier's key_server",
    'jwtproxy verify-token: unexpected argument "extra"',
  ]);
  expect(runs[0].stderr).toContain('usage: jwtproxy verify-token');
});
