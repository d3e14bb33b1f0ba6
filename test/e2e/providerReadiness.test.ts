// Through the real CLI: a verifier whose provider answers garbage at start is not ready —
// /readyz 503, requests 503 with the reason — and becomes ready by itself once the
// provider serves its key set, with no restart.
import { accessClaims, accessKey, audTag, certsDocument, CERTS_PATH } from '../support/cloudflareAccess';
import { runCli } from '../support/cli';
import { eventually } from '../support/eventually';
import { httpRequest } from '../support/httpRequest';
import { signJws } from '../support/jws';
import { StandInServer } from '../support/standInServer';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

test('a provider serving garbage at start leaves the verifier not ready until a good key set arrives', async () => {
  const team = new StandInServer();
  const teamUrl = await team.listen();
  team.serve(CERTS_PATH, { body: '<html>maintenance</html>' });
  const upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  const tag = audTag();
  const cli = runCli(`jwtproxy:
  workers: 1
  signer_proxy: {enabled: false}
  observability: {listen_addr: "127.0.0.1:0"}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      provider:
        type: cloudflare_access
        options: {team_domain: test.cloudflareaccess.com, audience_tag: ${tag}, certs_url: "${teamUrl}${CERTS_PATH}"}
`);
  try {
    const health = await cli.boundAddress('health and metrics listening');
    const verifier = await cli.boundAddress('verifier proxy started');
    const key = accessKey();
    const token = signJws({ alg: 'RS256', kid: key.kid, typ: 'JWT' }, accessClaims(Date.now(), tag), key.pair.privateKey);
    const headers = { 'cf-access-jwt-assertion': token };

    expect((await httpRequest(`${health}/readyz`)).status).toBe(503);
    expect(await httpRequest(verifier, { headers })).toMatchObject({ status: 503, body: 'jwtproxy: unable to verify request: Signing keys not available yet' });
    expect(upstream.received).toHaveLength(0);

    team.serve(CERTS_PATH, { body: certsDocument([key]) });
    await eventually(async () => (await httpRequest(`${health}/readyz`)).status === 200, '/readyz 200 once the key set arrives', 10_000);
    expect((await httpRequest(verifier, { headers })).status).toBe(200);
  } finally {
    await stopCli(cli);
    await upstream.close();
    await team.close();
  }
});
