// The seeds' authorization rules, written once in CEL and once in Lua, applied by a verifier
// behind a local Cloudflare Access stand-in: group membership from the SAML groups claim, the
// email domain, device posture passed or failed as a claim, and the client certificate's CN as
// a gateway forwards it in a request header. Both languages must decide alike.
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { PolicyTestBed, REFUSED_BY_CLAIMS as REFUSED } from '../support/policyTestBed';
import { stopAfterEach } from '../support/providerVerifier';

const GROUPS = 'http://schemas/groups';
const bed = new PolicyTestBed();
const track = stopAfterEach();

beforeAll(() => bed.open());
afterAll(() => bed.close());

interface Rule {
  cel: string;
  lua: string;
  message: string;
}

/** Each seed's rule in both languages; the Lua one returns false and the same message. */
const RULES: Record<string, Rule> = {
  groups: {
    cel: `"application_admin" in claims.custom["${GROUPS}"]`,
    lua: `
      function verify(input)
        local custom = input.claims.custom or {}
        for _, group in ipairs(custom["${GROUPS}"] or {}) do
          if group == "application_admin" then return true end
        end
        return false, "application_admin only"
      end`,
    message: 'application_admin only',
  },
  emailDomain: {
    cel: 'claims.email.endsWith("@example.com")',
    lua: `
      function verify(input)
        local email = input.claims.email
        if type(email) == "string" and email:match("@example%.com$") then return true end
        return false, "example.com accounts only"
      end`,
    message: 'example.com accounts only',
  },
  devicePosture: {
    cel: 'claims.device_posture.all(check, claims.device_posture[check].success == true)',
    lua: `
      function verify(input)
        local posture = input.claims.device_posture
        if type(posture) ~= "table" then return false, "a managed device only" end
        for _, check in pairs(posture) do
          if check.success ~= true then return false, "a managed device only" end
        end
        return true
      end`,
    message: 'a managed device only',
  },
  clientCn: {
    cel: 'request.headers["cf-cert-subject-dn"].matches("(^|,)CN=build-agent-[0-9]+(,|$)")',
    lua: `
      function verify(input)
        local dn = input.request.headers["cf-cert-subject-dn"] or ""
        local cn = ("," .. dn):match(",CN=([^,]*)")
        if cn and cn:match("^build%-agent%-%d+$") then return true end
        return false, "build agents only"
      end`,
    message: 'build agents only',
  },
};

/** A verifier behind Access with `rule` as its one claims verifier, in `language`. */
async function verifier(language: 'cel' | 'lua', rule: Rule, extra?: string): Promise<VerifierProxy> {
  const claimsVerifier =
    language === 'cel'
      ? `{type: cel, options: {expression: ${JSON.stringify(rule.cel)}, message: ${JSON.stringify(rule.message)}}}`
      : `{type: lua, options: {script: ${JSON.stringify(await bed.script(rule.lua))}}}`;
  return track(await bed.verifier([claimsVerifier], { extra }));
}

const get = (proxy: VerifierProxy, claims: Record<string, unknown>, headers: Record<string, string> = {}) => bed.request(proxy, { claims, headers });

describe.each(['cel', 'lua'] as const)('rules in %s', (language) => {
  test('a member of application_admin passes; others are refused with the rule message', async () => {
    const proxy = await verifier(language, RULES.groups);
    expect(await get(proxy, { custom: { [GROUPS]: ['engineering', 'application_admin'] } })).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(proxy, { custom: { [GROUPS]: ['engineering'] } })).toMatchObject({ status: 403, body: `${REFUSED}application_admin only` });
  });

  test('a token without the groups claim is refused, not an error', async () => {
    const proxy = await verifier(language, RULES.groups);
    expect(await get(proxy, { custom: undefined })).toMatchObject({ status: 403, body: `${REFUSED}application_admin only` });
  });

  test('only the example.com email domain passes, not a domain that merely contains it', async () => {
    const proxy = await verifier(language, RULES.emailDomain);
    expect((await get(proxy, { email: 'ada@example.com' })).status).toBe(200);
    for (const email of ['ada@example.com.evil.test', 'ada@examplexcom', 'ada@evil.test']) {
      expect(await get(proxy, { email })).toMatchObject({ status: 403, body: `${REFUSED}example.com accounts only` });
    }
  });

  test('device posture: every check passed lets the request through, one failed check refuses it', async () => {
    const proxy = await verifier(language, RULES.devicePosture);
    const passed = { disk_encryption: { success: true, type: 'disk_encryption' }, firewall: { success: true, type: 'firewall' } };
    expect((await get(proxy, { device_posture: passed })).status).toBe(200);
    const failed = { ...passed, firewall: { success: false, type: 'firewall' } };
    expect(await get(proxy, { device_posture: failed })).toMatchObject({ status: 403, body: `${REFUSED}a managed device only` });
  });
});

// CEL's version of this rule runs in the verify-token tests, in a process of its own: under Jest,
// Node's request headers are an object of another realm, which cel-js does not take for a map.
test("Lua: the client certificate's CN from the gateway's header decides", async () => {
  // The header is Cloudflare's: believed from the tunnel on this host (trusted_proxies) only.
  const untrusting = await verifier('lua', RULES.clientCn);
  expect(await get(untrusting, {}, { 'cf-cert-subject-dn': 'CN=build-agent-7,O=Example Corp' })).toMatchObject({ status: 403, body: `${REFUSED}build agents only` });
  const proxy = await verifier('lua', RULES.clientCn, 'trusted_proxies: [127.0.0.1, "::1"]');
  expect(await get(proxy, {}, { 'cf-cert-subject-dn': 'CN=build-agent-7,O=Example Corp' })).toMatchObject({ status: 200, body: 'ok' });
  expect((await get(proxy, {}, { 'cf-cert-subject-dn': 'O=Example,CN=build-agent-12' })).status).toBe(200);
  for (const dn of ['CN=laptop-3,O=Example Corp', 'O=CN=build-agent-7', 'CN=build-agent-7x']) {
    expect(await get(proxy, {}, { 'cf-cert-subject-dn': dn })).toMatchObject({ status: 403, body: `${REFUSED}build agents only` });
  }
  expect((await get(proxy, {})).status).toBe(403);
});
