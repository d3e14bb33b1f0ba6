// The access log of the real jwtproxy command line (dist/, a child process): one JSON line per
// request at info, with who reached what, and never the query or the token. Run `npm run build` first.
import { runCli, type RunningCli } from '../support/cli';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

const app = new TestUpstream();
let appUrl = '';
let cli: RunningCli | undefined;

beforeAll(async () => {
  appUrl = await app.listen();
});
afterEach(async () => {
  if (cli) await stopCli(cli);
  cli = undefined;
});
afterAll(() => app.close());

async function verifier(extra = ''): Promise<string> {
  cli = runCli(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: appUrl, workers: 1 }).replace('    verifier:\n', `${extra}    verifier:\n`));
  return cli.boundAddress('verifier proxy started');
}

test('an accepted and a refused request each leave one line: method, normalised path without the query, status, reason, iss and sub, client, upstream, duration, bytes', async () => {
  const url = await verifier();
  const token = await mintToken({ audience: CLI_AUDIENCE, claims: { sub: 'billing' } });
  expect((await httpRequest(`${url}/a/../invoices?secret=${token}`, { headers: bearer(token) })).status).toBe(200);
  expect((await httpRequest(`${url}/admin?q=1`, { headers: bearer(token) })).status).toBe(403);
  const [accepted, refused] = await cli!.logLines('access', 2);
  expect(accepted).toMatchObject({
    level: 'info',
    proxy: 'verifier_proxies[0]',
    method: 'GET',
    path: '/invoices',
    status: 200,
    iss: 'jwtproxy',
    sub: 'billing',
    client: '127.0.0.1',
    upstream: appUrl,
  });
  expect(accepted.reason).toBeUndefined();
  expect(accepted.bytes).toBeGreaterThan(0);
  expect(typeof accepted.durationMs).toBe('number');
  expect(refused).toMatchObject({ path: '/admin', status: 403, reason: 'replayed' });
  expect(cli!.output).not.toContain(token.split('.')[1]);
});

test('access_log: false leaves no line; the identity claim can be another one', async () => {
  const url = await verifier('    access_log: false\n');
  const token = await mintToken({ audience: CLI_AUDIENCE });
  expect((await httpRequest(`${url}/`, { headers: bearer(token) })).status).toBe(200);
  await stopCli(cli!);
  expect(cli!.output).not.toContain('"msg":"access"');
  cli = undefined;
  const other = await verifier('    access_log: {identity_claim: email}\n');
  await httpRequest(`${other}/`, { headers: bearer(await mintToken({ audience: CLI_AUDIENCE, claims: { email: 'ada@example.com' } })) });
  const [line] = await cli!.logLines('access');
  expect(line).toMatchObject({ email: 'ada@example.com' });
});
