// External authorization (claims verifier `http`) in a running verifier proxy, against a real
// local server speaking the OPA REST API and a generic authorizer: allow, deny, headers for the
// upstream, and fail closed with a retryable 503 when the authorizer is slow, down or answers
// garbage; the decision cache (one question for repeated identical requests, never past exp);
// bounded concurrency.
import * as http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../src/observability/logger';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { httpRequest } from '../support/httpRequest';
import { OpaStandIn } from '../support/opaStandIn';
import { capturingLogger, PolicyTestBed, REFUSED_BY_CLAIMS as REFUSED } from '../support/policyTestBed';
import { stopAfterEach } from '../support/providerVerifier';
import { TestUpstream } from '../support/testUpstream';

const UNAVAILABLE = 'jwtproxy: unable to verify request: Authorizer unavailable';
const POLICY = 'httpapi/authz';

const bed = new PolicyTestBed();
const opa = new OpaStandIn();
const track = stopAfterEach();
let now = Date.now();
const clock = () => now;

beforeAll(async () => {
  await bed.open();
  await opa.listen();
});
afterAll(async () => {
  await bed.close();
  await opa.close();
});
beforeEach(() => {
  now = Date.now();
  opa.reset();
  bed.app.received.length = 0;
});

/** A verifier asking the OPA stand-in's POLICY; `options` is more YAML for the http options mapping. */
async function opaVerifier(options = '', logger?: Logger): Promise<VerifierProxy> {
  const item = `{type: http, options: {dialect: opa, url: "${opa.url}/v1/data/${POLICY}"${options ? `, ${options}` : ''}}}`;
  return track(await bed.verifier([item], { clock, logger }));
}

const get = (proxy: VerifierProxy, request: Parameters<PolicyTestBed['request']>[1] = {}) => bed.request(proxy, { nowMs: now, ...request });

describe('OPA REST API', () => {
  test('`{"result": true}` lets the request through; OPA is asked with the claims and the request as input', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier();
    expect(await get(proxy, { path: '/app/reports?year=2026', method: 'PUT', claims: { email: 'ada@example.com' } })).toMatchObject({ status: 200, body: 'ok' });
    const [question] = opa.asked(POLICY);
    expect(question.headers['content-type']).toBe('application/json');
    expect(question.input).toMatchObject({
      claims: { email: 'ada@example.com', iss: `https://test.cloudflareaccess.com`, aud: [bed.audience] },
      request: { method: 'PUT', path: '/app/reports', host: new URL(proxy.url).host, headers: {} },
    });
  });

  test('the policy decides from the input: a group rule allows one token and denies another', async () => {
    opa.policy(POLICY, (input) => ((input as { claims: { custom?: Record<string, string[]> } }).claims.custom?.['http://schemas/groups'] ?? []).includes('application_admin'));
    const proxy = await opaVerifier();
    expect((await get(proxy, { claims: { custom: { 'http://schemas/groups': ['application_admin'] } } })).status).toBe(200);
    expect(await get(proxy, { claims: { custom: { 'http://schemas/groups': ['staff'] } } })).toMatchObject({ status: 403, body: `${REFUSED}the authorizer denied the request` });
  });

  test('`{"result": false}` and an object result with allow false refuse; the decision\'s message is the reason', async () => {
    opa.policy(POLICY, () => false);
    const proxy = await opaVerifier('message: ask the payments team');
    expect(await get(proxy)).toMatchObject({ status: 403, body: `${REFUSED}ask the payments team` });
    opa.policy(POLICY, () => ({ allow: false, message: 'outside office hours' }));
    expect(await get(proxy, { path: '/app/2' })).toMatchObject({ status: 403, body: `${REFUSED}outside office hours` });
  });

  test('a missing result (the policy has no decision for this input) refuses', async () => {
    const proxy = await opaVerifier();
    expect(await get(proxy)).toMatchObject({ status: 403, body: `${REFUSED}the authorizer denied the request` });
    expect(opa.asked(POLICY)).toHaveLength(1);
  });

  test('headers of an allowing decision go upstream; client copies of those headers never do', async () => {
    opa.policy(POLICY, (input) => {
      const { path } = (input as { request: { path: string } }).request;
      return path === '/app/plain' ? { allow: true } : { allow: true, headers: { 'X-User-Role': 'admin', 'X-Tenant': ['eu', 'us'] } };
    });
    const proxy = await opaVerifier('upstream_headers: [X-User-Role, x-tenant]');
    expect((await get(proxy, { headers: { 'x-user-role': 'forged' } })).status).toBe(200);
    expect(bed.app.last.headers).toMatchObject({ 'x-user-role': 'admin', 'x-tenant': 'eu,us' });
    expect(bed.app.last.headers['x-user-role']).toBe('admin');
    expect((await get(proxy, { path: '/app/plain', headers: { 'x-user-role': 'forged', 'x-tenant': 'forged' } })).status).toBe(200);
    expect(bed.app.last.headers['x-user-role']).toBeUndefined();
    expect(bed.app.last.headers['x-tenant']).toBeUndefined();
  });

  test('listed client request headers are sent to the authorizer, and only those', async () => {
    opa.policy(POLICY, (input) => (input as { request: { headers: Record<string, string> } }).request.headers['x-client-cn'] === 'build-agent-7');
    const proxy = await opaVerifier('request_headers: [X-Client-CN]');
    expect((await get(proxy, { headers: { 'x-client-cn': 'build-agent-7', 'x-other': 'secret' } })).status).toBe(200);
    expect((opa.questions[0].input as { request: { headers: unknown } }).request.headers).toEqual({ 'x-client-cn': 'build-agent-7' });
    expect((await get(proxy, { headers: { 'x-client-cn': 'laptop-3' } })).status).toBe(403);
  });
});

describe('fail closed: no decision is a retryable 503, never a pass', () => {
  async function unavailable(options: string, prepare: () => void | Promise<void>): Promise<string> {
    const lines: Record<string, unknown>[] = [];
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier(options, capturingLogger(lines));
    await prepare();
    const answer = await get(proxy);
    expect(answer).toMatchObject({ status: 503, body: UNAVAILABLE });
    expect(bed.app.received).toHaveLength(0);
    const refused = lines.find((line) => line.msg === 'request refused')!;
    expect(refused).toMatchObject({ level: 'warn', code: 'unavailable', reason: 'Authorizer unavailable' });
    return refused.cause as string;
  }

  test('an authorizer slower than the timeout', async () => {
    const startedAt = Date.now();
    const cause = await unavailable('timeout: 200ms', () => void (opa.delayMs = 2000));
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(cause).toBe(`authorizer ${opa.url}/v1/data/${POLICY}: no decision within 200ms`);
  });

  test('an authorizer that is down', async () => {
    const cause = await unavailable('', () => void (opa.up = false));
    expect(cause).toMatch(new RegExp(`^authorizer ${opa.url}/v1/data/${POLICY}: `));
  });

  test('nothing listening at all', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const proxy = track(await bed.verifier([`{type: http, options: {dialect: opa, url: "http://127.0.0.1:${port}/v1/data/x"}}`], { clock }));
    expect(await get(proxy)).toMatchObject({ status: 503, body: UNAVAILABLE });
  });

  test.each([
    ['a 500', { status: 500, body: '{"code": "internal_error", "message": "eval_conflict_error"}' }, 'status 500'],
    ['a 400', { status: 400, body: '{"code": "invalid_parameter"}' }, 'status 400'],
    ['text', { status: 200, body: '<html>proxy error</html>' }, 'the answer is not JSON'],
    ['a list', { status: 200, body: '[true]' }, 'the answer is not a JSON object'],
    ['a string result', { status: 200, body: '{"result": "allow"}' }, '"result" is neither a boolean nor an object'],
    ['allow as a string', { status: 200, body: '{"result": {"allow": "true"}}' }, '"result.allow" is not true or false'],
    ['an unlisted header', { status: 200, body: '{"result": {"allow": true, "headers": {"X-Admin": "1"}}}' }, 'it sets the header "X-Admin", which is not in upstream_headers'],
    [
      'a header value with CR LF',
      { status: 200, body: '{"result": {"allow": true, "headers": {"x-user-role": "a\\r\\nx-admin: 1"}}}' },
      'the value for x-user-role contains CR, LF, NUL or another control character',
    ],
    ['a huge answer', { status: 200, body: JSON.stringify({ result: true, padding: 'x'.repeat(70_000) }) }, 'the answer is longer than 65536 bytes'],
  ])('an answer that is not a decision: %s', async (_name, raw, why) => {
    const cause = await unavailable('upstream_headers: [x-user-role]', () => void (opa.rawAnswer = raw));
    expect(cause).toBe(`authorizer ${opa.url}/v1/data/${POLICY} answered no decision: ${why}`);
  });

  test('the authorizer back, the next request passes', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier();
    opa.up = false;
    expect((await get(proxy)).status).toBe(503);
    opa.up = true;
    expect((await get(proxy)).status).toBe(200);
  });
});

describe('decision cache', () => {
  test('repeated identical requests ask the authorizer once', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier('cache: {ttl: 30s}');
    const token = bed.token({}, now);
    for (let i = 0; i < 5; i++) {
      expect((await httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } })).status).toBe(200);
    }
    expect(opa.asked(POLICY)).toHaveLength(1);
    expect(bed.app.received).toHaveLength(5);
  });

  test('denials are cached too, and so are the headers of an allowing decision', async () => {
    opa.policy(POLICY, (input) => ((input as { request: { path: string } }).request.path === '/app' ? { allow: true, headers: { 'x-user-role': 'admin' } } : false));
    const proxy = await opaVerifier('cache: {ttl: 30s}, upstream_headers: [x-user-role]');
    const token = bed.token({}, now);
    const send = (path: string) => httpRequest(`${proxy.url}${path}`, { headers: { 'cf-access-jwt-assertion': token } });
    for (let i = 0; i < 3; i++) {
      expect((await send('/app')).status).toBe(200);
      expect(bed.app.last.headers['x-user-role']).toBe('admin');
      expect((await send('/other')).status).toBe(403);
    }
    expect(opa.asked(POLICY)).toHaveLength(2);
  });

  test('the key is everything the decision depends on: token, method, path, host and listed headers', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier('cache: {ttl: 30s}, request_headers: [x-client-cn]');
    const token = bed.token({}, now);
    const send = (path: string, headers: Record<string, string> = {}, method = 'GET') => httpRequest(`${proxy.url}${path}`, { method, headers: { 'cf-access-jwt-assertion': token, ...headers } });
    await send('/app');
    await send('/app?page=2');
    await send('/app', { 'x-unlisted': 'yes' });
    expect(opa.asked(POLICY)).toHaveLength(1);
    await send('/app/other');
    await send('/app', {}, 'POST');
    await send('/app', { host: 'other.example' });
    await send('/app', { 'x-client-cn': 'agent-1' });
    await get(proxy, { path: '/app' });
    expect(opa.asked(POLICY)).toHaveLength(6);
  });

  test('an entry lasts its ttl', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier('cache: {ttl: 30s}');
    const token = bed.token({}, now);
    const send = () => httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } });
    await send();
    now += 29_000;
    await send();
    expect(opa.asked(POLICY)).toHaveLength(1);
    now += 2_000;
    await send();
    expect(opa.asked(POLICY)).toHaveLength(2);
  });

  test("an entry never outlives the token's exp, even while max_skew still accepts the token", async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier('cache: {ttl: 1h}');
    const token = bed.token({ exp: Math.floor(now / 1000) + 60 }, now);
    const send = () => httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } });
    await send();
    now += 59_000;
    await send();
    expect(opa.asked(POLICY)).toHaveLength(1);
    now += 30_000;
    expect((await send()).status).toBe(200);
    expect(opa.asked(POLICY)).toHaveLength(2);
  });

  test('a reload (SIGHUP) drops the cached decisions', async () => {
    let allow = true;
    opa.policy(POLICY, () => allow);
    const proxy = await opaVerifier('cache: {ttl: 30s}');
    const token = bed.token({}, now);
    const send = () => httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } });
    expect((await send()).status).toBe(200);
    allow = false;
    expect((await send()).status).toBe(200);
    await proxy.reload();
    expect((await send()).status).toBe(403);
    expect(opa.asked(POLICY)).toHaveLength(2);
  });

  test('identical requests in flight together share one question', async () => {
    opa.policy(POLICY, () => true);
    opa.delayMs = 200;
    const proxy = await opaVerifier('cache: {ttl: 30s}');
    const token = bed.token({}, now);
    const answers = await Promise.all(Array.from({ length: 5 }, () => httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    expect(opa.asked(POLICY)).toHaveLength(1);
  });

  test('without a cache every request is asked about', async () => {
    opa.policy(POLICY, () => true);
    const proxy = await opaVerifier();
    const token = bed.token({}, now);
    for (let i = 0; i < 3; i++) await httpRequest(`${proxy.url}/app`, { headers: { 'cf-access-jwt-assertion': token } });
    expect(opa.asked(POLICY)).toHaveLength(3);
  });
});

describe('max_concurrency', () => {
  test('requests beyond it wait their turn', async () => {
    opa.policy(POLICY, () => true);
    opa.delayMs = 100;
    const proxy = await opaVerifier('max_concurrency: 2, timeout: 5s');
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => get(proxy, { path: `/app/${i}` })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(opa.mostInFlight).toBe(2);
  });

  test('the wait counts in the timeout: a request that cannot get its decision in time gets the 503', async () => {
    opa.policy(POLICY, () => true);
    opa.holding = true;
    const proxy = await opaVerifier('max_concurrency: 1, timeout: 4s');
    const first = get(proxy, { path: '/app/1' });
    await opa.untilInFlight(1);
    const second = get(proxy, { path: '/app/2' });
    // The second waits 2 s for the slot, then its own question is held: counted from its start, its
    // 4 s run out at 4 s; were the wait not counted, it would last until 6 s, and at 5 s the held
    // answer lets it through. A second of margin each way, and two for the first.
    await sleep(2000);
    opa.release();
    expect((await first).status).toBe(200);
    const fallback = setTimeout(() => opa.release(), 3000);
    try {
      expect(await second).toMatchObject({ status: 503, body: UNAVAILABLE });
    } finally {
      clearTimeout(fallback);
    }
    expect(opa.mostInFlight).toBe(1);
  });
});

describe('generic dialect', () => {
  const authorizer = new TestUpstream((_req, res, body) => {
    const { request } = JSON.parse(body) as { request: { path: string } };
    const answers: Record<string, [number, unknown]> = {
      '/app/allow': [200, { allow: true, headers: { 'x-user-role': 'reader' } }],
      '/app/deny': [200, { allow: false, message: 'read-only account' }],
      '/app/forbidden': [403, { message: 'not on the list' }],
      '/app/broken': [500, { error: 'boom' }],
      '/app/vague': [200, { allow: 'yes' }],
    };
    const [status, answer] = answers[request.path] ?? [404, {}];
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  let authorizerUrl = '';
  beforeAll(async () => {
    authorizerUrl = `${await authorizer.listen()}/authorize`;
  });
  afterAll(() => authorizer.close());

  test.each([
    ['/app/allow', 200, 'ok'],
    ['/app/deny', 403, `${REFUSED}read-only account`],
    ['/app/forbidden', 403, `${REFUSED}not on the list`],
    ['/app/broken', 503, UNAVAILABLE],
    ['/app/vague', 503, UNAVAILABLE],
    ['/app/unknown', 503, UNAVAILABLE],
  ])('%s → %i', async (path, status, body) => {
    const proxy = track(await bed.verifier([`{type: http, options: {url: "${authorizerUrl}", upstream_headers: [x-user-role]}}`], { clock }));
    expect(await get(proxy, { path })).toMatchObject({ status, body });
    if (status === 200) expect(bed.app.last.headers['x-user-role']).toBe('reader');
    expect(authorizer.last).toMatchObject({ method: 'POST', url: '/authorize' });
    expect(JSON.parse(authorizer.last.body)).toMatchObject({ claims: { email: 'ada@example.com' }, request: { method: 'GET', path } });
  });

  test('in forward-auth mode the decision headers are in the answer for the gateway', async () => {
    const item = `{type: http, options: {url: "${authorizerUrl}", upstream_headers: [x-user-role]}}`;
    const proxy = track(await bed.verifier([item], { clock, forwardAuth: true }));
    const answer = await httpRequest(`${proxy.url}/`, {
      headers: { 'cf-access-jwt-assertion': bed.token({}, now), 'x-forwarded-uri': '/app/allow', 'x-forwarded-method': 'GET', 'x-forwarded-host': 'app.example' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-user-role']).toBe('reader');
  });
});
